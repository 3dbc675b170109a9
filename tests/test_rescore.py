"""Saved maps, rescoring and ``maps export`` (issue 16): every metric column, reproduced from
the exported arrays by outside libraries (scikit-learn, SciPy), byte-identical rescoring, the
fusion rule and the kappa filter, diagnostic AUROC against scikit-learn, ranking by any metric.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.core.names import (
    ALL_METRIC_NAMES,
    PROBABILITY_PREFIX,
    SALIENCY_COLUMNS,
    SCORE_COLUMNS,
)
from dermx_bench.harness.run import ScoreOptions, score_run
from tests.harness_util import make_submission, make_world


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished run of a tiny random model on six synthetic images."""
    root = tmp_path_factory.mktemp("rescore")
    world = make_world(root, 6, size=(40, 56))
    sub = make_submission(root / "sub", input_size=(32, 48), target_layer="layer3")
    run = root / "run"
    score_run(sub, world["store"], world["photos"], run,
              ScoreOptions(batch_size=4, n_boot=20, device="cpu", n_overlays=0))
    return {**world, "run": run}


def _rescore(args: list[str]) -> str:
    res = CliRunner().invoke(main, ["rescore", *args])
    assert res.exit_code == 0, res.output
    return res.output


def test_rescore_reproduces_the_run_byte_for_byte(scored: dict[str, Path], tmp_path: Path) -> None:
    run, store = scored["run"], str(scored["store"])
    assert {"maps.bin", "maps.csv"} <= {p.name for p in run.iterdir()}
    out1, out2 = tmp_path / "a", tmp_path / "b"
    _rescore([str(run), "--store", store, "--out", str(out1)])
    _rescore([str(run), "--store", store, "--out", str(out2)])
    assert (out1 / "scores.csv").read_bytes() == (run / "scores.csv").read_bytes()
    for name in ("scores.csv", "summary.json", "summary.md"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    summary = json.loads((out1 / "summary.json").read_text())
    union = summary["localisation"]["union"]
    # every metric beside its like-for-like reference and every floor
    assert list(union["per_rater"]) == list(ALL_METRIC_NAMES)
    assert list(union["reference"]) == list(ALL_METRIC_NAMES)
    assert set(union["floors"]) == {"ones", "gaussian", "zeros"}
    assert union["floors"]["zeros"]["relevance_mass"]["n"] == 0  # ΣA = 0: undefined everywhere
    assert union["floors"]["ones"]["auroc"]["mean"] == pytest.approx(0.5)  # constant map


def test_rescore_options(scored: dict[str, Path], tmp_path: Path) -> None:
    run, store = str(scored["run"]), str(scored["store"])
    out = tmp_path / "singh"
    text = _rescore([run, "--store", store, "--out", str(out), "--metric", "spearman", "--metric", "best_dice",
                     "--fusion", "majority", "--min-kappa", "0.4"])
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["image", "characteristic", "reference", "map_sum", "reference_sum", "all_zero",
                                    "best_dice", "best_dice_threshold", "spearman"]
    assert set(scores["reference"][scores["reference"].str.startswith("fusion:")]) == {"fusion:majority"}
    summary = json.loads((out / "summary.json").read_text())
    excluded = summary["excluded_by_kappa"]
    assert f"Excluded {excluded['n']} image(s)" in text
    assert summary["n_images"] + excluded["n"] == 6 and summary["metrics"] == ["best_dice", "spearman"]
    assert not set(excluded["images"]) & set(scores["image"])
    # a kappa filter no image fails keeps them all
    none_out = tmp_path / "all"
    _rescore([run, "--store", store, "--out", str(none_out), "--min-kappa", "-1"])
    kept = json.loads((none_out / "summary.json").read_text())
    assert kept["n_images"] + kept["excluded_by_kappa"]["n"] == 6
    assert all("undefined" in why for why in kept["excluded_by_kappa"]["images"].values())


def test_rescore_refuses_bad_input(scored: dict[str, Path], tmp_path: Path) -> None:
    run, store = str(scored["run"]), str(scored["store"])
    res = CliRunner().invoke(main, ["rescore", run, "--store", store, "--out", run])
    assert res.exit_code == 1 and "Error: --out" in res.output
    res = CliRunner().invoke(main, ["rescore", run, "--store", store, "--out", str(tmp_path / "x"),
                                    "--fusion", "mean"])
    assert res.exit_code == 2 and "mean" in res.output
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    res = CliRunner().invoke(main, ["maps", "export", str(empty), str(tmp_path / "maps")])
    assert res.exit_code == 1 and "no saved maps" in res.output


def test_exported_maps_reproduce_scores_with_outside_libraries(scored: dict[str, Path], tmp_path: Path) -> None:
    check_exported_maps(scored["run"], scored["store"], tmp_path / "maps")


def check_exported_maps(run: Path, store: Path, out: Path, max_images: int | None = None,
                        max_rows: int | None = None) -> None:
    """``maps export`` arrays against the run's scores.csv: fuzzy metrics by hand, auroc by
    scikit-learn, spearman by SciPy, the others by direct numpy definitions, to 1e-6
    (``max_images``/``max_rows``: how many images, and rater rows per image, to check)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from dermx_bench.consensus.references import load_references
    from dermx_bench.masks import rle
    from dermx_bench.store.db import Store

    res = CliRunner().invoke(main, ["maps", "export", str(run), str(out)])
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(run / "scores.csv")
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert set(SALIENCY_COLUMNS) <= set(scores.columns)
    with Store.open(store) as st:
        refs = {r.image: r for r in load_references(st, "drop")}
    images = sorted(set(scores["image"]))[:max_images]
    checked = 0
    for image in images:
        a = np.load(out / f"{image}.npy")
        ref = refs[image]
        assert a.dtype == np.float32 and a.shape == ref.size and a.min() >= 0 and a.max() <= 1
        rows = scores[(scores["image"] == image) & scores["reference"].str.startswith("rater:")][:max_rows]
        order_all = np.argsort(-a.ravel(), kind="stable")
        for _, row in rows.iterrows():
            s = rle.decode(ref.masks[row["characteristic"]][row["reference"].removeprefix("rater:")]).astype(bool)
            af = a.astype(np.float64)
            inter = af[s].sum()
            assert row["f1"] == pytest.approx(2 * inter / (af.sum() + s.sum()), abs=1e-6)
            if af.max() > af.min() and 0 < s.sum() < s.size:
                assert row["auroc"] == pytest.approx(roc_auc_score(s.ravel(), a.ravel()), abs=1e-6)
                assert row["spearman"] == pytest.approx(spearmanr(a.ravel(), s.ravel()).statistic, abs=1e-6)
            else:
                assert np.isnan(row["spearman"])
            if af.sum() > 0:
                assert row["relevance_mass"] == pytest.approx(inter / af.sum(), abs=1e-6)
                assert row["pointing_game"] == float(s[a == a.max()].any())
            ts = np.arange(101, dtype=np.float64) / 100 if max_rows is None else [row["best_dice_threshold"]]
            dice = [2 * (s & (a >= np.float32(t))).sum() / ((a >= np.float32(t)).sum() + s.sum()) for t in ts]
            assert row["best_dice"] == pytest.approx(max(dice), abs=1e-6)
            order = order_all[: int(s.sum())]
            assert row["relevance_rank"] == pytest.approx(s.ravel()[order].mean(), abs=1e-6)
            checked += 1
    assert checked > 0


def test_predictions_keep_probabilities_and_auroc_matches_sklearn(scored: dict[str, Path]) -> None:
    from sklearn.metrics import roc_auc_score

    preds = pd.read_csv(scored["run"] / "predictions.csv", keep_default_na=False, dtype={"gold": str})
    prob = [c for c in preds.columns if c.startswith(PROBABILITY_PREFIX)]
    assert prob and np.allclose(preds[prob].sum(axis=1), 1.0)
    summary = json.loads((scored["run"] / "summary.json").read_text())
    dx = summary["diagnosis"]
    values = []
    for c in prob:
        name = c.removeprefix(PROBABILITY_PREFIX)
        y = (preds["gold"] == name).to_numpy()
        if 0 < y.sum() < len(y):
            want = roc_auc_score(y, preds[c].to_numpy())
            assert dx["per_class"][name]["auroc"] == pytest.approx(want, abs=1e-12)
            values.append(want)
        else:
            assert "auroc" not in dx["per_class"][name]
    assert dx["macro_auroc"] == pytest.approx(np.mean(values), abs=1e-12)
    assert summary["constant_maps"]["n"] >= summary["all_zero_maps"]["n"]


def test_one_vs_rest_auroc_by_hand() -> None:
    from dermx_bench.stats.diagnosis import one_vs_rest_auroc

    assert one_vs_rest_auroc([0.9, 0.2, 0.5, 0.5], [True, False, True, False]) == pytest.approx(0.875)
    assert one_vs_rest_auroc([0.1, 0.2], [True, True]) is None


def test_fusion_rows_binarise_at_one_half() -> None:
    """Against a fusion the saliency metrics see {F >= 1/2}: the fuzzy fusion of two raters
    keeps pixels one of two drew; majority (n > |R|/2) does not."""
    from sklearn.metrics import roc_auc_score

    from dermx_bench.consensus.map_scores import score_map
    from dermx_bench.consensus.references import ImageReference
    from dermx_bench.masks import rle

    a_mask = np.zeros((6, 8), bool)
    a_mask[1:4, 1:5] = True
    b_mask = np.zeros((6, 8), bool)
    b_mask[2:5, 3:7] = True
    masks = {"Plaque": {"a": rle.encode(a_mask), "b": rle.encode(b_mask)},
             "union": {"a": rle.encode(a_mask), "b": rle.encode(b_mask)}}
    ref = ImageReference("x", 6, 8, "Psoriasis", ["a", "b"], {"a": "Psoriasis", "b": "Psoriasis"}, masks)
    rng = np.random.default_rng(0)
    a = rng.random((6, 8)).astype(np.float32)
    for rule, s in (("fuzzy", a_mask | b_mask), ("majority", a_mask & b_mask)):
        row = next(r for r in score_map(ref, a, rule) if r.reference == f"fusion:{rule}" and r.characteristic == "Plaque")
        assert row.auroc == pytest.approx(roc_auc_score(s.ravel(), a.ravel()), abs=1e-12)


def test_rank_by_any_metric(scored: dict[str, Path]) -> None:
    from dermx_bench.leaderboard.ranking import rank_entries
    from dermx_bench.results.entry import Entry, load_entry

    entry = load_entry(scored["run"] / "entry.json")
    union = entry.localisation["union"]
    assert union.per_rater.auroc is not None and entry.n_constant_maps is not None

    def with_auroc(name: str, mean: float, f1: float) -> Entry:
        pr = union.per_rater.model_copy(update={
            "auroc": union.per_rater.auroc.model_copy(update={"mean": mean}),  # type: ignore[union-attr]
            "f1": union.per_rater.f1.model_copy(update={"mean": f1})})
        loc = {**entry.localisation, "union": union.model_copy(update={"per_rater": pr})}
        return entry.model_copy(update={"name": name, "localisation": loc})

    es = [with_auroc("low-auroc", 0.4, 0.9), with_auroc("high-auroc", 0.8, 0.1)]
    assert [r.entry.name for r in rank_entries(es, n_boot=10)] == ["low-auroc", "high-auroc"]
    assert [r.entry.name for r in rank_entries(es, n_boot=10, rank_by="auroc")] == ["high-auroc", "low-auroc"]
    from dermx_bench.core.errors import InputError

    with pytest.raises(InputError, match="--rank-by"):
        rank_entries(es, rank_by="accuracy")


@pytest.mark.parametrize("fill", [0.0, 0.3, 1.0])
def test_binary_map_stats_equal_the_sorted_ones(fill: float) -> None:
    """MapStats.from_binary (from runs, no sort) is MapStats.from_map of the 0/1 array."""
    from dermx_bench.consensus.fusion import ones_runs
    from dermx_bench.masks import rle
    from dermx_bench.masks.saliency import MapStats

    rng = np.random.default_rng(3)
    mask = rng.random((7, 9)) < fill
    fast = MapStats.from_binary(mask.shape, *ones_runs(rle.encode(mask), mask.size))
    slow = MapStats.from_map(mask.astype(np.float32))
    for name in ("flat", "pos", "rank2", "bins", "above", "max_index"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert (fast.n_max, fast.total, fast.rank_ss12, fast.dtype) == (slow.n_max, slow.total, slow.rank_ss12, slow.dtype)


def test_binary_maps_score_as_their_arrays_exactly() -> None:
    """An outline scored from its runs (score_binary_counts) gives exactly what its float32
    array gives through score_mask, every metric, against raters and fusions."""
    from dermx_bench.consensus.map_scores import score_map
    from dermx_bench.consensus.maps import BinaryMap, DenseMap
    from dermx_bench.consensus.references import ImageReference
    from dermx_bench.core.names import SALIENCY_COLUMNS
    from dermx_bench.masks import rle

    rng = np.random.default_rng(5)
    masks = [rng.random((9, 11)) < p for p in (0.2, 0.5, 0.0)]
    drawn = {"Plaque": {"a": rle.encode(masks[0]), "b": rle.encode(masks[1])},
             "union": {"a": rle.encode(masks[0]), "b": rle.encode(masks[1])}}
    ref = ImageReference("x", 9, 11, "Psoriasis", ["a", "b", "c"], dict.fromkeys("abc", "Psoriasis"), drawn)
    for seat in (rng.random((9, 11)) < 0.4, np.zeros((9, 11), bool), np.ones((9, 11), bool)):
        for rule in ("fuzzy", "majority", "any"):
            fast = score_map(ref, BinaryMap.from_rle(rle.encode(seat)), rule)
            slow = score_map(ref, DenseMap(seat.astype(np.float32)), rule)
            for f, s in zip(fast, slow, strict=True):
                assert [getattr(f, c) for c in SALIENCY_COLUMNS] == [getattr(s, c) for c in SALIENCY_COLUMNS]
