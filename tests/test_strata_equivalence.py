"""Strata (Kruskal-Wallis across them) and the model as one more dermatologist (percentile, TOST)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dermx_bench.results.figures import Stat
from dermx_bench.stats.equivalence import (
    as_dermatologist,
    percentile_among,
    place_among,
    welch_tost,
)
from dermx_bench.stats.strata import kruskal_p, stratify


def _stat(mean: float, std: float, n: int) -> Stat:
    return Stat(mean=mean, std=std, ci_low=None, ci_high=None, n=n)


def test_percentile_matches_scipy_kind_mean() -> None:
    raters = [0.4, 0.5, 0.5, 0.7]
    for v in (0.3, 0.5, 0.6, 0.9):
        assert percentile_among(v, raters) == pytest.approx(stats.percentileofscore(raters, v, kind="mean"))
    assert percentile_among(0.5, []) is None


def test_welch_tost_matches_two_one_sided_scipy_tests() -> None:
    m, r, margin = _stat(0.52, 0.2, 40), _stat(0.5, 0.25, 60), 0.05
    lower = stats.ttest_ind_from_stats(0.52 + margin, 0.2, 40, 0.5, 0.25, 60, equal_var=False, alternative="greater")
    upper = stats.ttest_ind_from_stats(0.52 - margin, 0.2, 40, 0.5, 0.25, 60, equal_var=False, alternative="less")
    assert welch_tost(m, r, margin) == pytest.approx(max(lower.pvalue, upper.pvalue))
    # far apart: not equivalent; identical and many images: equivalent
    assert welch_tost(_stat(0.9, 0.1, 50), r, margin) == pytest.approx(1.0, abs=1e-6)
    assert welch_tost(_stat(0.5, 0.1, 500), _stat(0.5, 0.1, 500), margin) < 0.001  # type: ignore[operator]
    assert welch_tost(_stat(0.5, 0.0, 5), _stat(0.5, 0.0, 5), margin) is None
    with pytest.raises(ValueError, match="margin"):
        welch_tost(m, r, 0)


def test_place_among_the_raters() -> None:
    row = place_among("Plaque", _stat(0.6, 0.2, 100), _stat(0.55, 0.2, 100), {"a": 0.5, "b": 0.7, "c": None})
    assert row.percentile == pytest.approx(50.0)  # above a, below b; c undefined is not counted
    assert row.equivalent is not None and row.tost_p is not None
    rows = as_dermatologist({"Plaque": _stat(0.6, 0.2, 100), "union": _stat(0.3, 0.1, 100)}, {}, {})
    assert [r.characteristic for r in rows] == ["Plaque", "union"]
    assert rows[1].percentile is None and rows[1].tost_p is None and rows[1].equivalent is None


def test_kruskal_matches_scipy_and_is_undefined_without_two_strata() -> None:
    rng = np.random.default_rng(1)
    g = [rng.uniform(0, 1, 8), rng.uniform(0.3, 1, 5), rng.uniform(0, 0.5, 11)]
    h, p, k = kruskal_p(g)
    ref = stats.kruskal(*g)
    assert (h, p, k) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), 3)
    assert kruskal_p([g[0], np.array([])]) == (None, None, 1)
    assert kruskal_p([np.ones(3), np.ones(4)]) == (None, None, 2)


def test_stratify_hand_case() -> None:
    idx = pd.MultiIndex.from_tuples([("union", f"i{k}") for k in range(6)], names=["characteristic", "image"])
    values = pd.DataFrame({"f1": [0.1, 0.2, 0.3, 0.8, 0.9, np.nan]}, index=idx)
    strata = {"i0": "dark", "i1": "dark", "i2": "dark", "i3": "light", "i4": "light", "i5": "light"}
    rows, tests = stratify(values, strata, "skin_tone", ["union", "Plaque"], ["f1"], min_n=3, n_boot=50)
    by = {r.stratum: r for r in rows}
    assert by["dark"].stat.mean == pytest.approx(0.2) and by["dark"].stat.n == 3 and not by["dark"].few
    assert by["light"].stat.mean == pytest.approx(0.85) and by["light"].stat.n == 2 and by["light"].few
    assert len(tests) == 1 and tests[0].p_value == pytest.approx(stats.kruskal([0.1, 0.2, 0.3], [0.8, 0.9]).pvalue)


def test_rater_figures_are_each_seats_fusion_mean_over_images() -> None:
    from dermx_bench.consensus.human_reference import SEAT_COLUMN, rater_figures

    detail = pd.DataFrame([
        # seat, image, characteristic, reference, f1, sensitivity, specificity
        ("a", "i1", "union", "fusion:fuzzy", 0.2, 0.3, 0.9),
        ("a", "i2", "union", "fusion:fuzzy", 0.4, 0.5, 0.8),
        ("a", "i1", "union", "rater:b", 0.9, 0.9, 0.9),  # per-rater rows are not the fusion figure
        ("b", "i1", "union", "fusion:fuzzy", 0.6, np.nan, 0.7),
    ], columns=[SEAT_COLUMN, "image", "characteristic", "reference", "f1", "sensitivity", "specificity"])
    figs = rater_figures(detail)
    assert figs["union"]["a"].f1.mean == pytest.approx(0.3) and figs["union"]["a"].f1.n == 2
    assert figs["union"]["b"].f1.mean == pytest.approx(0.6) and figs["union"]["b"].sensitivity.n == 0
    assert figs["union"]["a"].f1.ci_low is None  # no interval: only the means are used
