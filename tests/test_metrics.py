"""Fuzzy overlap metrics (METHODS §4): hand-computed branches, sklearn reference, RLE paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as cocomask

from dermx_bench.core.errors import RegistryError
from dermx_bench.masks import rle as R
from dermx_bench.masks.metrics import (
    Scores,
    binary_scores_from_areas,
    fortran_prefix,
    fuzzy_scores,
    get_metric,
    list_metrics,
    scores_from_sums,
    scores_rle,
    scores_vs_binary,
    sum_over_rle,
)


def _arr(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


# -- hand-computed branches ----------------------------------------------------------------


def test_binary_hand_case() -> None:
    a = _arr([1, 1], [0, 0])
    s = _arr([1, 0], [1, 0])
    # TP=1, FP=1, FN=1, TN=1
    assert fuzzy_scores(a, s) == Scores(0.5, 0.5, 0.5)


def test_fuzzy_hand_case() -> None:
    a = _arr([0.5, 1.0, 0.0, 0.25])
    s = _arr([1.0, 0.5, 0.0, 0.0])
    # Σmin = 0.5+0.5 = 1; ΣA = 1.75; ΣS = 1.5
    # Σmin(1-A,1-S) = 0 + 0 + 1 + 0.75 = 1.75; Σ(1-S) = 0 + 0.5 + 1 + 1 = 2.5
    sc = fuzzy_scores(a, s)
    assert sc.f1 == pytest.approx(2 * 1.0 / 3.25)
    assert sc.sensitivity == pytest.approx(1.0 / 1.5)
    assert sc.specificity == pytest.approx(1.75 / 2.5)


def test_both_empty() -> None:
    z = np.zeros((3, 4))
    assert fuzzy_scores(z, z) == Scores(None, None, 1.0)


def test_a_empty() -> None:
    a = np.zeros((2, 2))
    s = _arr([1, 0], [0, 0])
    # F1 = 0 (one empty); sens = 0 / 1; spec = 3 / 3
    assert fuzzy_scores(a, s) == Scores(0.0, 0.0, 1.0)


def test_s_empty() -> None:
    a = _arr([1, 0], [0, 0])
    s = np.zeros((2, 2))
    # F1 = 0; sens undefined; spec = 3 / 4
    assert fuzzy_scores(a, s) == Scores(0.0, None, 0.75)


def test_s_full_specificity_undefined() -> None:
    a = _arr([1, 0], [0.5, 0])
    s = np.ones((2, 2))
    sc = fuzzy_scores(a, s)
    assert sc.specificity is None
    assert sc.sensitivity == pytest.approx(1.5 / 4)
    assert sc.f1 == pytest.approx(2 * 1.5 / 5.5)


def test_no_pixels() -> None:
    z = np.zeros((0, 3))
    assert fuzzy_scores(z, z) == Scores(None, None, None)


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        fuzzy_scores(np.zeros((2, 2)), np.zeros((2, 3)))


def test_scores_from_sums_branches() -> None:
    assert scores_from_sums(0, 0, 0, 10, 10) == Scores(None, None, 1.0)
    assert scores_from_sums(0, 3, 0, 7, 10) == Scores(0.0, None, 0.7)
    assert scores_from_sums(2, 4, 4, 4, 6) == Scores(0.5, 0.5, 4 / 6)
    assert scores_from_sums(1, 1, 10, 0, 0) == Scores(2 / 11, 0.1, None)


def test_vs_binary_hand_case() -> None:
    a = _arr([0.5, 1.0], [0.25, 0.0])
    s = _arr([1, 0], [1, 0])
    sc = scores_vs_binary(sum_a=1.75, area_s=2, sum_a_on_s=0.75, n_pixels=4)
    ref = fuzzy_scores(a, s)
    assert sc.f1 == pytest.approx(ref.f1)
    assert sc.sensitivity == pytest.approx(ref.sensitivity)
    assert sc.specificity == pytest.approx(ref.specificity)
    # spec = ((4-2) - (1.75-0.75)) / (4-2) = 0.5
    assert sc.specificity == pytest.approx(0.5)


def test_identical_nonempty_is_one() -> None:
    a = _arr([0.2, 0.0], [1.0, 0.7])
    assert fuzzy_scores(a, a) == Scores(1.0, 1.0, 1.0)


def test_registry() -> None:
    assert list_metrics() == ["f1", "sensitivity", "specificity"]
    a = _arr([1, 1], [0, 0])
    s = _arr([1, 0], [1, 0])
    assert get_metric("f1")(a, s) == 0.5
    assert get_metric("sensitivity")(a, s) == 0.5
    assert get_metric("specificity")(a, s) == 0.5
    with pytest.raises(RegistryError, match="unknown metric 'iou'"):
        get_metric("iou")


# -- independent reference: scikit-learn ----------------------------------------------------

binary_pairs = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 12).flatmap(
        lambda w: st.tuples(arrays(np.uint8, (h, w), elements=st.integers(0, 1)),
                            arrays(np.uint8, (h, w), elements=st.integers(0, 1)))
    )
)


@settings(max_examples=150, deadline=None)
@given(binary_pairs)
def test_binary_matches_sklearn(pair: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import f1_score, recall_score

    a, s = pair
    sc = fuzzy_scores(a, s)
    y_true, y_pred = s.ravel(), a.ravel()
    if a.any() or s.any():
        assert sc.f1 == pytest.approx(f1_score(y_true, y_pred, zero_division=0.0))
    else:
        assert sc.f1 is None
    if s.any():
        assert sc.sensitivity == pytest.approx(recall_score(y_true, y_pred))
    else:
        assert sc.sensitivity is None
    if (s == 0).any():
        assert sc.specificity == pytest.approx(recall_score(y_true, y_pred, pos_label=0))
    else:
        assert sc.specificity is None


fuzzy_maps = st.integers(1, 10).flatmap(
    lambda h: st.integers(1, 10).flatmap(
        lambda w: arrays(np.float64, (h, w), elements=st.floats(0, 1, allow_nan=False))
    )
)


@settings(max_examples=100, deadline=None)
@given(fuzzy_maps)
def test_identical_maps_agree_perfectly(a: np.ndarray) -> None:
    sc = fuzzy_scores(a, a)
    if a.sum() > 0:
        assert sc.f1 == pytest.approx(1.0)
        assert sc.sensitivity == pytest.approx(1.0)
    if (1 - a).sum() > 0:
        assert sc.specificity == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(fuzzy_maps)
def test_f1_symmetric_and_bounded(a: np.ndarray) -> None:
    s = np.roll(a, 1)
    x, y = fuzzy_scores(a, s), fuzzy_scores(s, a)
    assert x.f1 == y.f1
    for v in (x.f1, x.sensitivity, x.specificity):
        assert v is None or -1e-12 <= v <= 1 + 1e-12


# -- RLE paths ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(binary_pairs)
def test_scores_rle_identical_to_arrays(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, s = pair
    assert scores_rle(R.encode(a), R.encode(s)) == fuzzy_scores(a, s)


def test_scores_rle_size_mismatch() -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        scores_rle(R.empty(2, 3), R.empty(3, 2))


def test_binary_scores_from_areas() -> None:
    # |A|=2, |S|=2, |A∩S|=1, N=4 (the binary hand case)
    assert binary_scores_from_areas(2, 2, 1, 4) == Scores(0.5, 0.5, 0.5)


@settings(max_examples=150, deadline=None)
@given(binary_pairs, st.integers(0, 2**32 - 1))
def test_sum_over_rle_matches_decode(pair: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    _, m = pair
    a = np.random.default_rng(seed).random(m.shape)
    rle = R.encode(m)
    assert sum_over_rle(a, rle) == pytest.approx(float((a * R.decode(rle)).sum()), abs=1e-9)
    assert sum_over_rle(a, rle, prefix=fortran_prefix(a)) == sum_over_rle(a, rle)


@settings(max_examples=100, deadline=None)
@given(binary_pairs, st.integers(0, 2**32 - 1))
def test_vs_binary_via_rle_matches_arrays(pair: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    _, m = pair
    a = np.random.default_rng(seed).random(m.shape)
    a[a < 0.3] = 0.0
    rle = R.encode(m)
    sc = scores_vs_binary(float(a.sum()), R.area(rle), sum_over_rle(a, rle), m.size)
    ref = fuzzy_scores(a, m)
    for x, y in ((sc.f1, ref.f1), (sc.sensitivity, ref.sensitivity), (sc.specificity, ref.specificity)):
        assert (x is None) == (y is None)
        if x is not None:
            assert x == pytest.approx(y, abs=1e-12)


def test_sum_over_rle_large_runs_and_errors() -> None:
    m = np.zeros((700, 900), np.uint8)
    m[5:690, 3:880] = 1
    m[::9, ::4] = 0
    a = np.random.default_rng(0).random(m.shape).astype(np.float32)
    assert sum_over_rle(a, R.encode(m)) == pytest.approx(float((a.astype(np.float64) * m).sum()), rel=1e-9)
    with pytest.raises(ValueError, match="differs from the mask size"):
        sum_over_rle(a.T, R.encode(m))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=40))
def test_rle_runs_inverts_pycocotools(runs: list[int]) -> None:
    n = sum(runs)
    assume(n > 0)  # an image has at least one pixel
    coco = cocomask.frPyObjects({"size": [n, 1], "counts": runs}, n, 1)
    got = R.runs({"size": [n, 1], "counts": coco["counts"].decode("ascii")})
    assert got.sum() == n
    assert np.array_equal(R.decode({"size": [n, 1], "counts": coco["counts"].decode("ascii")}).ravel(),
                          np.repeat(np.arange(got.size) % 2, got).astype(np.uint8))
