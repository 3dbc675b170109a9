"""Saliency metrics: every way in gives the same values (arrays, RLEs, precomputed map stats),
invariants, the dataset-level threshold, and the precomputation's edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dermx_bench.masks import rle as R
from dermx_bench.masks.saliency import (
    SALIENCY_METRIC_NAMES,
    Best,
    MapStats,
    MaskPixels,
    ThresholdCounts,
    auroc,
    dataset_best,
    get_saliency_metric,
    pointing_game,
    relevance_mass,
    relevance_rank,
    score_mask,
    spearman,
    threshold_counts,
)

values8 = st.integers(0, 8).map(lambda v: v / 8)  # exact under 1 - a, with ties
maps_and_masks = st.integers(1, 9).flatmap(
    lambda h: st.integers(1, 9).flatmap(
        lambda w: st.tuples(
            arrays(np.float64, (h, w), elements=st.one_of(values8, st.floats(0, 1, allow_nan=False))),
            st.lists(arrays(np.bool_, (h, w)), min_size=1, max_size=4),
        )
    )
)


@settings(max_examples=150, deadline=None)
@given(maps_and_masks, st.integers(0, 3), st.booleans())
def test_every_path_gives_identical_values(case: tuple[np.ndarray, list[np.ndarray]], tol: int, f32: bool) -> None:
    """Array masks, RLE masks (compressed and list counts), MaskPixels, a shared MapStats,
    score_mask and each registered function: the same values, bit for bit."""
    a, masks = case
    if f32:
        a = a.astype(np.float32)
    stats = MapStats.from_map(a)
    for s in masks:
        rle = R.encode(s.astype(np.uint8))
        listed = {"size": rle["size"], "counts": R.runs(rle).tolist()}
        ref = score_mask(a, s, tolerance=tol)
        for mask in (rle, listed, MaskPixels.from_rle(rle), MaskPixels.from_array(s.astype(np.uint8))):
            assert score_mask(stats, mask, tolerance=tol) == ref
            assert score_mask(a, mask, tolerance=tol) == ref
        row = ref.as_row()
        for name in SALIENCY_METRIC_NAMES:
            fn = get_saliency_metric(name)
            got = fn(stats, rle, tolerance=tol) if name == "pointing_game" else fn(stats, rle)
            assert (got.value if isinstance(got, Best) else got) == row[name]


@settings(max_examples=150, deadline=None)
@given(maps_and_masks)
def test_mask_pixels_from_rle_equal_from_array(case: tuple[np.ndarray, list[np.ndarray]]) -> None:
    a, masks = case
    for s in masks:
        from_rle = MaskPixels.from_rle(R.encode(s.astype(np.uint8)))
        from_array = MaskPixels.from_array(s)
        assert from_rle.shape == from_array.shape == s.shape
        assert np.array_equal(from_rle.index, from_array.index)
        assert np.array_equal(from_rle.index, np.flatnonzero(s.T.ravel()))  # column-major


@settings(max_examples=150, deadline=None)
@given(maps_and_masks)
def test_invariants(case: tuple[np.ndarray, list[np.ndarray]]) -> None:
    """Ranges; reversing the map (1 - a, exact on multiples of 1/8 and ties kept) flips
    AUROC to 1 - AUROC and Spearman's sign."""
    a, masks = case
    a = np.round(a * 8) / 8
    for s in masks:
        sc = score_mask(a, s)
        for v in (sc.spearman,):
            assert v is None or -1.0 <= v <= 1.0
        for v in (sc.auroc, sc.relevance_mass, sc.relevance_rank, sc.pointing_game):
            assert v is None or 0.0 <= v <= 1.0
        for b in (sc.best_dice, sc.best_iou):
            assert b is None or (0.0 <= b.value <= 1.0 and round(b.threshold * 100) == b.threshold * 100)
        rev = score_mask(1 - a, s)
        if sc.auroc is not None:
            assert rev.auroc == pytest.approx(1 - sc.auroc, abs=1e-12)
        if sc.spearman is not None:
            assert rev.spearman == pytest.approx(-sc.spearman, abs=1e-12)
        if sc.best_dice is not None and sc.best_iou is not None:
            assert sc.best_iou.value <= sc.best_dice.value  # IoU <= Dice at every threshold


# -- precomputation edge cases --------------------------------------------------------------


def test_float64_values_float32_cannot_hold() -> None:
    """0.5 and 0.5 + 1e-12 are one float32 but two float64 values: ranks must tell them apart."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    a = np.array([[0.5, 0.5 + 1e-12, 0.25], [0.5 + 2e-12, 0.0, 0.5]])
    s = np.array([[0, 1, 0], [1, 0, 0]], dtype=bool)
    assert auroc(a, s) == 1.0 == roc_auc_score(s.ravel(), a.ravel())
    assert spearman(a, s) == pytest.approx(spearmanr(a.ravel(), s.ravel()).statistic, abs=1e-12)
    assert pointing_game(a, s) == 1.0
    assert relevance_rank(a, s) == 1.0


def test_negative_zero_is_zero() -> None:
    a = np.array([[-0.0, 0.0, 0.5]])
    s = np.array([[1, 0, 0]], dtype=bool)
    assert auroc(a, s) == 0.25  # ties with 0.0 (half), loses to 0.5
    assert relevance_rank(a, np.array([[0, 0, 1]], dtype=bool)) == 1.0


def test_large_tie_group_spearman_matches_scipy() -> None:
    """A 300x300 map zero but for a 10x10 square: one tie group of 89,900 pixels (the
    exact big-group branch of the tie correction)."""
    from scipy.stats import spearmanr

    a = np.zeros((300, 300), dtype=np.float32)
    a[100:110, 100:110] = np.linspace(0.1, 1.0, 100, dtype=np.float32).reshape(10, 10)
    s = np.zeros((300, 300), dtype=bool)
    s[95:130, 90:105] = True
    assert spearman(a, s) == pytest.approx(spearmanr(a.ravel(), s.ravel()).statistic, abs=1e-12)


def test_realistic_map_against_references() -> None:
    """A smooth 120x160 map (bilinear upsampling of a 6x8 grid) and blob masks as RLEs."""
    from scipy.ndimage import zoom
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    a = zoom(rng.random((6, 8)), 20, order=1).astype(np.float32)
    a = np.clip(a / a.max(), 0, 1)
    stats = MapStats.from_map(a)
    rows, cols = np.ogrid[:120, :160]
    for cy, cx, r in ((30, 40, 12), (90, 120, 30), (60, 80, 70)):
        s = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
        rle = R.encode(s.astype(np.uint8))
        assert auroc(stats, rle) == pytest.approx(roc_auc_score(s.ravel(), a.ravel()), abs=1e-12)
        assert spearman(stats, rle) == pytest.approx(spearmanr(a.ravel(), s.ravel()).statistic, abs=1e-12)
        assert relevance_mass(stats, rle) == pytest.approx(a[s].sum(dtype=np.float64) / a.sum(dtype=np.float64),
                                                           abs=1e-12)


def test_near_max_cached_and_constant_map() -> None:
    a = np.zeros((5, 6))
    a[2, 3] = 1.0
    stats = MapStats.from_map(a)
    first = stats.near_max(1)
    assert stats.near_max(1) is first
    # (2,3) and its 4 neighbours, column-major indices col * 5 + row
    assert first.tolist() == sorted([3 * 5 + 2, 3 * 5 + 1, 3 * 5 + 3, 2 * 5 + 2, 4 * 5 + 2])
    const = MapStats.from_map(np.full((5, 6), 0.3))
    assert const.near_max(2).tolist() == list(range(30))


# -- per-threshold counts and the dataset-level threshold ---------------------------------


@settings(max_examples=100, deadline=None)
@given(maps_and_masks)
def test_threshold_counts_brute_force(case: tuple[np.ndarray, list[np.ndarray]]) -> None:
    a, masks = case
    for s in masks:
        counts = threshold_counts(a, s)
        if not s.any():
            assert counts is None
            continue
        assert counts is not None and counts.area == int(s.sum())
        for k in range(101):
            b = a >= k / 100
            assert counts.above[k] == int(b.sum())
            assert counts.overlap[k] == int((b & s).sum())


def test_dataset_best_hand_case() -> None:
    """Two 1x4 images. Image 1: A = (0.9, 0.6, 0.2, 0.0), S = {0}; image 2: A = (0.5, 0.8,
    0.3, 0.1), S = {0, 1}. Dice per threshold band:
    image 1: t=0: 2/5; (0, 0.2]: 2/4; (0.2, 0.6]: 2/3; (0.6, 0.9]: 1; above: 0.
    image 2: t=0: 4/6; (0, 0.1]: 4/6; (0.1, 0.3]: 4/5; (0.3, 0.5]: 1; (0.5, 0.8]: 2/3.
    Means: (0.3, 0.5] -> (2/3 + 1)/2 = 5/6 and (0.6, 0.8] -> (1 + 2/3)/2 = 5/6 tie; the
    smallest t wins: 0.31. Per image the best t are 0.61 and 0.31."""
    a1, s1 = np.array([[0.9, 0.6, 0.2, 0.0]]), np.array([[1, 0, 0, 0]], dtype=bool)
    a2, s2 = np.array([[0.5, 0.8, 0.3, 0.1]]), np.array([[1, 1, 0, 0]], dtype=bool)
    counts = [threshold_counts(a1, s1), threshold_counts(a2, s2)]
    assert counts[0] is not None and counts[1] is not None
    assert counts[0].best("dice") == Best(1.0, 0.61)
    assert counts[1].best("dice") == Best(1.0, 0.31)
    best = dataset_best([c for c in counts if c is not None], "dice")
    assert best is not None
    assert best.threshold == 0.31
    assert best.mean == pytest.approx(5 / 6)
    assert best.values.tolist() == pytest.approx([2 / 3, 1.0])
    assert dataset_best([], "iou") is None


@settings(max_examples=60, deadline=None)
@given(maps_and_masks, st.sampled_from(["dice", "iou"]))
def test_dataset_best_brute_force(case: tuple[np.ndarray, list[np.ndarray]], kind: str) -> None:
    a, masks = case
    pairs = [(np.roll(a, i, axis=1), s) for i, s in enumerate(masks) if s.any()]
    counts = [c for c in (threshold_counts(x, s) for x, s in pairs) if c is not None]
    got = dataset_best(counts, kind)  # type: ignore[arg-type]
    if not pairs:
        assert got is None
        return
    means = []
    for k in range(101):
        vals = []
        for x, s in pairs:
            b = x >= k / 100
            inter, nb, ns = int((b & s).sum()), int(b.sum()), int(s.sum())
            vals.append(2 * inter / (nb + ns) if kind == "dice" else inter / (nb + ns - inter))
        means.append(float(np.mean(vals)))
    k_best = int(np.argmax(means))
    assert got is not None and got.threshold == k_best / 100
    assert got.mean == pytest.approx(means[k_best], abs=1e-12)


def test_threshold_counts_scores_unknown_kind() -> None:
    c = ThresholdCounts(np.full(101, 4), np.full(101, 1), 1)
    with pytest.raises(ValueError, match="unknown overlap 'f1'; choose one of: dice, iou"):
        c.scores("f1")  # type: ignore[arg-type]
