"""Paired comparisons of two runs (issue 10): against scipy and hand-computed cases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dermx_bench.core.names import SCORE_COLUMNS, UNION
from dermx_bench.stats.paired import (
    compare_one,
    compare_values,
    holm,
    metric_columns,
    per_image_values,
    wilcoxon_p,
)


def _series(values: Sequence[float | None], prefix: str = "i") -> pd.Series:
    return pd.Series([np.nan if v is None else v for v in values], index=[f"{prefix}{k:02d}" for k in range(len(values))],
                     dtype=np.float64)


def test_metric_columns_are_every_column_but_the_keys_and_counts() -> None:
    assert metric_columns(SCORE_COLUMNS) == [
        "f1", "sensitivity", "specificity", "best_dice", "best_iou", "spearman", "pointing_game", "auroc",
        "relevance_mass", "relevance_rank",
    ]  # the thresholds of best_dice and best_iou are no metric
    assert metric_columns([*SCORE_COLUMNS, "new_metric"])[-1] == "new_metric"


def test_holm_hand_computed() -> None:
    # sorted 0.01, 0.02, 0.04 (m = 3): 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # a large p caps at 1; None stays None and is not counted (m = 2)
    assert holm([0.6, None, 0.3])[1] is None
    assert holm([0.6, None, 0.3])[0] == pytest.approx(0.6)
    assert holm([0.6, None, 0.3])[2] == pytest.approx(0.6)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_wilcoxon_matches_scipy_and_zero_differences_give_one() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.1, 0.2, 25)
    assert wilcoxon_p(d) == pytest.approx(stats.wilcoxon(d).pvalue)
    assert wilcoxon_p(np.zeros(7)) == 1.0
    assert wilcoxon_p(np.array([])) is None


def test_a_run_against_itself_differs_by_nothing() -> None:
    a = _series([0.1, 0.5, None, 0.9, 0.3])
    row = compare_one(a, a.copy(), "Plaque", "f1", n_boot=200)
    assert row.n_images == 4
    assert row.difference == 0.0 and row.ci_low == 0.0 and row.ci_high == 0.0
    assert row.wilcoxon_p == 1.0 and row.holm_p == 1.0
    assert row.a_wins == 0.0 and row.b_wins == 0.0


def test_paired_on_shared_defined_images_with_shares() -> None:
    a = _series([0.9, 0.8, 0.7, None, 0.5])
    b = _series([0.1, 0.8, 0.9, 0.4, None, 0.3])
    row = compare_one(a, b, "Plaque", "f1", n_boot=500)
    # shared and defined: i00, i01, i02 -> differences 0.8, 0, -0.2
    assert row.n_images == 3
    assert row.difference == pytest.approx((0.8 + 0 - 0.2) / 3)
    assert row.a_wins == pytest.approx(1 / 3) and row.b_wins == pytest.approx(1 / 3)
    assert row.mean_a == pytest.approx(0.8) and row.mean_b == pytest.approx(0.6)
    assert row.wilcoxon_p == pytest.approx(stats.wilcoxon([0.8, 0.0, -0.2]).pvalue)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.3, 0.7), min_size=3, max_size=20), st.floats(-0.3, 0.3))
def test_shift_gives_its_mean_difference_and_an_interval_around_it(base: list[float], shift: float) -> None:
    a = _series(base)
    b = a - shift
    row = compare_one(a, b, "c", "f1", n_boot=100)
    assert row.difference == pytest.approx(shift, abs=1e-9)
    assert row.ci_low is not None and row.ci_high is not None
    assert row.difference is not None
    assert row.ci_low - 1e-9 <= row.difference <= row.ci_high + 1e-9


def _scores(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """scores.csv rows: per (characteristic, image) one rater row per value and a fusion row (the mean)."""
    recs = []
    for (ch, img), vals in values.items():
        for k, v in enumerate(vals):
            recs.append({"image": img, "characteristic": ch, "reference": f"rater:r{k}", "f1": v,
                         "sensitivity": v, "specificity": 1 - v, "map_sum": 1.0, "reference_sum": 1.0,
                         "all_zero": False})
        recs.append({"image": img, "characteristic": ch, "reference": "fusion:fuzzy", "f1": float(np.mean(vals)),
                     "sensitivity": 0.5, "specificity": 0.5, "map_sum": 1.0, "reference_sum": 1.0, "all_zero": False})
    return pd.DataFrame(recs)


def test_per_image_values_and_holm_across_characteristics_not_union() -> None:
    rng = np.random.default_rng(0)
    chars = ["Plaque", "Scale", UNION]
    imgs = [f"im{k}" for k in range(12)]
    a = _scores({(c, i): list(rng.uniform(0.5, 1, 2)) for c in chars for i in imgs})
    b = _scores({(c, i): list(rng.uniform(0, 0.6, 2)) for c in chars for i in imgs})
    va, vb = per_image_values(a, "per-rater"), per_image_values(b, "per-rater")
    assert va.loc[("Plaque", "im0"), "f1"] == pytest.approx(
        a[(a.characteristic == "Plaque") & (a.image == "im0") & a.reference.str.startswith("rater:")].f1.mean())
    rows = compare_values(va, vb, chars, ["f1"], n_boot=200)
    by = {r.characteristic: r for r in rows}
    raw = [by["Plaque"].wilcoxon_p, by["Scale"].wilcoxon_p]
    assert [by["Plaque"].holm_p, by["Scale"].holm_p] == pytest.approx(holm(raw))
    assert by[UNION].holm_p == by[UNION].wilcoxon_p
    assert all(r.difference is not None and r.difference > 0 for r in rows)
    fused = per_image_values(a, "fusion")
    assert fused.loc[("Scale", "im3"), "sensitivity"] == 0.5
