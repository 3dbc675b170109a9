"""Saliency metrics (METHODS §9): hand-computed cases, every policy branch, independent references.

References: scikit-learn's ``roc_auc_score``, scipy's ``spearmanr``, a brute-force
threshold loop, and Quantus 0.6 (PointingGame, RelevanceMassAccuracy,
RelevanceRankAccuracy, AUC). Where Quantus's convention differs from METHODS §9 the test
keeps to the cases where they agree and pins the difference down in its own test:

- PointingGame: an empty mask should give NaN, but Quantus writes the NaN into a bool
  array, so it reads True (a hit); we give None. Quantus refuses an all-zero map (an
  assertion, for every metric); we give None (METHODS: undefined). No tolerance in Quantus.
- RelevanceRankAccuracy: Quantus ranks with ``np.argsort(-a)`` (quicksort, unstable), so
  ties at the cut fall arbitrarily; we break them in row-major order. Compared on maps
  without ties.
- AUC: sklearn's ``roc_curve`` + trapezoid, the same as ours (ties count one half); a full
  mask gives NaN there and None here.
- All four normalise the map by its maximum by default (``normalise=True``); the scores
  are invariant to that scaling, and the comparisons run with ``normalise=False``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dermx_bench.core.errors import RegistryError
from dermx_bench.masks import rle as R
from dermx_bench.masks.saliency import (
    SALIENCY_METRIC_NAMES,
    Best,
    SaliencyScores,
    auroc,
    best_dice,
    best_iou,
    get_saliency_metric,
    list_saliency_metrics,
    pointing_game,
    relevance_mass,
    relevance_rank,
    score_mask,
    spearman,
)

# -- a 3x3 case worked out by hand ---------------------------------------------------------

A3 = np.array([[0.9, 0.5, 0.1],
               [0.5, 0.0, 0.2],
               [0.3, 0.5, 0.0]])
S3 = np.array([[1, 1, 0],
               [0, 0, 0],
               [1, 0, 0]], dtype=np.uint8)


def test_hand_case_3x3() -> None:
    """N = 9, |S| = 3, S's values {0.9, 0.5, 0.3}, the others {0.1, 0.5, 0, 0.2, 0.5, 0}.

    - ΣA = 3.0, ΣA over S = 1.7: relevance_mass = 1.7 / 3.
    - Ascending average ranks: 0, 0 -> 1.5; 0.1 -> 3; 0.2 -> 4; 0.3 -> 5; the three 0.5 -> 7;
      0.9 -> 9. R_S = 9 + 7 + 5 = 21.
    - AUROC: 0.9 beats all 6 others (6), 0.5 beats 4 and ties 2 (5), 0.3 beats 4 (4):
      15 / (3 * 6) = 5/6 (= (R_S - 3*4/2) / 18).
    - Spearman: Σ (r - 5)² = 16+4+4+4+12.25+1+0+4+12.25 = 57.5, Σ (S - 1/3)² = 2,
      covariance sum R_S - 3 * 5 = 6: rho = 6 / sqrt(115).
    - Pointing game: the maximum 0.9 at (0, 0) lies in S: 1.
    - Relevance rank: top 3 by decreasing A, ties in row-major order: (0,0)=0.9, then the
      first two 0.5 in row-major order, (0,1) and (1,0); S holds (0,0) and (0,1): 2/3.
    - Best Dice over A >= t: t = 0 -> all 9 pixels, 6/12; t in (0, 0.1] -> 7 px, 6/10;
      (0.1, 0.2] -> 6 px, 6/9; (0.2, 0.3] -> 5 px, all 3 of S, 6/8 = 0.75; (0.3, 0.5] ->
      4 px, 2 of S, 4/7; (0.5, 0.9] -> 1 px, 2/4. Best 0.75, smallest t = 0.21.
      IoU at 0.21: 3 / 5 = 0.6 (the others: 3/9, 3/7, 3/6, 2/5, 1/3): best 0.6 at 0.21.
    """
    assert relevance_mass(A3, S3) == pytest.approx(1.7 / 3.0, abs=1e-15)
    assert auroc(A3, S3) == 15 / 18
    assert spearman(A3, S3) == pytest.approx(6 / np.sqrt(115), abs=1e-15)
    assert pointing_game(A3, S3) == 1.0
    assert relevance_rank(A3, S3) == 2 / 3
    assert best_dice(A3, S3) == Best(0.75, 0.21)
    assert best_iou(A3, S3) == Best(0.6, 0.21)


def test_pointing_tolerance_is_a_euclidean_disc() -> None:
    """S = {(1, 1)} is diagonal to the maximum at (0, 0): squared distance 2. A tolerance
    of 1 (disc radius 1) misses it, a square neighbourhood would not; 2 reaches it."""
    s = np.zeros((3, 3), dtype=bool)
    s[1, 1] = True
    assert pointing_game(A3, s) == 0.0
    assert pointing_game(A3, s, tolerance=1) == 0.0
    assert pointing_game(A3, s, tolerance=2) == 1.0
    s2 = np.zeros((3, 3), dtype=bool)
    s2[0, 2] = True  # two columns away in the same row: squared distance 4
    assert pointing_game(A3, s2, tolerance=1) == 0.0
    assert pointing_game(A3, s2, tolerance=2) == 1.0


def test_pointing_any_maximal_pixel_counts() -> None:
    a = np.array([[1.0, 0.2], [0.3, 1.0]])
    s = np.array([[0, 0], [0, 1]], dtype=bool)  # holds the second of the two maxima
    assert pointing_game(a, s) == 1.0


def test_float32_thresholds_compare_in_float32() -> None:
    """v = float32(0.01) < 0.01 in float64, but ``v >= float32(0.01)``: a float32 map passes
    the threshold it is stored at (as ``a32 >= 0.01`` does in numpy). The same value in a
    float64 map fails t = 0.01, leaving t = 0 (both pixels: Dice 2/3) as the best."""
    a = np.array([[np.float32(0.01), 0.0]], dtype=np.float32)
    s = np.array([[1, 0]], dtype=np.uint8)
    assert best_dice(a, s) == Best(1.0, 0.01)
    assert best_dice(a.astype(np.float64), s) == Best(2 / 3, 0.0)


# -- policies: empty mask, full mask, constant map, all-zero map --------------------------


def _all(a: np.ndarray, s: np.ndarray) -> dict[str, float | None]:
    return score_mask(a, s).as_row()


def test_empty_mask_is_undefined_for_every_metric() -> None:
    a = np.array([[0.2, 1.0], [0.0, 0.5]])
    row = _all(a, np.zeros((2, 2), dtype=bool))
    assert set(row.values()) == {None}
    assert pointing_game(a, np.zeros((2, 2)), tolerance=3) is None


def test_full_mask() -> None:
    a = np.array([[0.2, 1.0], [0.0, 0.5]])
    sc = score_mask(a, np.ones((2, 2), dtype=bool))
    assert sc == SaliencyScores(best_dice=Best(1.0, 0.0), best_iou=Best(1.0, 0.0), spearman=None,
                                pointing_game=1.0, auroc=None, relevance_mass=1.0, relevance_rank=1.0)


def test_constant_map() -> None:
    """N = 6, |S| = 2 at (0, 1) and (0, 2); every pixel is maximal. Dice at t = 0 (all
    pixels) = 2*2/(6+2) = 0.5, IoU = 2/6; relevance_mass = |S|/N = 1/3; the first two
    pixels in row-major order are (0, 0), (0, 1): relevance_rank 1/2 (column-major order
    would take (0, 0), (1, 0) and give 0)."""
    a = np.full((2, 3), 0.5)  # ΣA = 3 and ΣA over S = 1 exactly
    s = np.array([[0, 1, 1], [0, 0, 0]], dtype=bool)
    sc = score_mask(a, s)
    assert sc == SaliencyScores(best_dice=Best(0.5, 0.0), best_iou=Best(2 / 6, 0.0), spearman=None,
                                pointing_game=1.0, auroc=0.5, relevance_mass=1 / 3, relevance_rank=0.5)


def test_all_zero_map() -> None:
    a = np.zeros((2, 3), dtype=np.float32)
    s = np.array([[0, 1, 1], [0, 0, 0]], dtype=bool)
    sc = score_mask(a, s)
    assert sc == SaliencyScores(best_dice=Best(0.5, 0.0), best_iou=Best(2 / 6, 0.0), spearman=None,
                                pointing_game=None, auroc=0.5, relevance_mass=None, relevance_rank=0.5)
    assert pointing_game(a, s, tolerance=2) is None


def test_binary_map_in_the_rater_seat() -> None:
    """A rater's mask as A (uint8 0/1): A = S gives perfect scores."""
    s = np.array([[0, 1, 1], [0, 1, 0]], dtype=np.uint8)
    sc = score_mask(s, s)
    assert sc == SaliencyScores(best_dice=Best(1.0, 0.01), best_iou=Best(1.0, 0.01), spearman=1.0,
                                pointing_game=1.0, auroc=1.0, relevance_mass=1.0, relevance_rank=1.0)


def test_as_row_columns() -> None:
    row = score_mask(A3, S3).as_row()
    assert list(row) == ["best_dice", "best_dice_threshold", "best_iou", "best_iou_threshold",
                         "spearman", "pointing_game", "auroc", "relevance_mass", "relevance_rank"]
    assert row["best_dice_threshold"] == 0.21


# -- registry and input errors ------------------------------------------------------------


def test_registry() -> None:
    assert list_saliency_metrics() == list(SALIENCY_METRIC_NAMES) == [
        "best_dice", "best_iou", "spearman", "pointing_game", "auroc", "relevance_mass", "relevance_rank"]
    assert get_saliency_metric("auroc")(A3, S3) == 15 / 18
    assert get_saliency_metric("pointing_game")(A3, S3, tolerance=1) == 1.0
    with pytest.raises(RegistryError, match=r"unknown saliency metric 'dice'; did you mean 'best_dice'\? choose one of: best_dice"):
        get_saliency_metric("dice")


@pytest.mark.parametrize(("a", "s", "match"), [
    (np.zeros(4), np.zeros(4), "non-empty \\(height, width\\) map"),
    (np.zeros((0, 3)), np.zeros((0, 3)), "non-empty"),
    (np.array([[0.5, 1.5]]), np.zeros((1, 2)), "in \\[0, 1\\], got min 0.5 and max 1.5"),
    (np.array([[0.5, np.nan]]), np.zeros((1, 2)), "finite and in \\[0, 1\\]"),
    (np.array([[-0.1, 0.5]]), np.zeros((1, 2)), "in \\[0, 1\\]"),
    (np.array([["a", "b"]]), np.zeros((1, 2)), "dtype <U1"),
    (np.zeros((2, 2)), np.zeros((2, 3)), "mask shape \\(2, 3\\) differs from the map's \\(2, 2\\)"),
    (np.zeros((2, 2)), np.full((2, 2), 2), "binary mask"),
    (np.zeros((2, 2)), np.full((2, 2), 0.5), "binary mask"),
    (np.zeros((2, 2)), np.zeros(4), "\\(height, width\\) mask"),
])
def test_bad_inputs(a: np.ndarray, s: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        auroc(a, s)


def test_bad_rle_and_tolerance() -> None:
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match="differs from the map's"):
        auroc(a, R.empty(3, 2))
    with pytest.raises(ValueError, match="do not cover the 2x3 pixels"):
        auroc(a, {"size": [2, 3], "counts": [2, 3]})
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            pointing_game(A3, S3, tolerance=bad)


# -- independent references: scikit-learn, scipy, a brute-force threshold loop --------------

values8 = st.integers(0, 8).map(lambda v: v / 8)  # ties on purpose
pairs = st.integers(1, 8).flatmap(
    lambda h: st.integers(1, 8).flatmap(
        lambda w: st.tuples(
            arrays(np.float64, (h, w), elements=st.one_of(values8, st.floats(0, 1, allow_nan=False))),
            arrays(np.bool_, (h, w)),
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_auroc_matches_sklearn(pair: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.metrics import roc_auc_score

    a, s = pair
    value = auroc(a, s)
    if 0 < s.sum() < s.size:
        assert value == pytest.approx(roc_auc_score(s.ravel(), a.ravel()), abs=1e-12)
    else:
        assert value is None


@settings(max_examples=200, deadline=None)
@given(pairs)
def test_spearman_matches_scipy(pair: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy.stats import spearmanr

    a, s = pair
    value = spearman(a, s)
    if 0 < s.sum() < s.size and np.ptp(a) > 0:
        assert value == pytest.approx(spearmanr(a.ravel(), s.ravel()).statistic, abs=1e-12)
    else:
        assert value is None


def _brute_best(a: np.ndarray, s: np.ndarray, kind: str) -> Best:
    best, best_t = -1.0, -1.0
    for k in range(101):
        t = a.dtype.type(k / 100)
        b = a >= t
        inter, nb, ns = int((b & s).sum()), int(b.sum()), int(s.sum())
        v = 2 * inter / (nb + ns) if kind == "dice" else inter / (nb + ns - inter)
        if v > best:
            best, best_t = v, k / 100
    return Best(best, best_t)


@settings(max_examples=150, deadline=None)
@given(pairs, st.booleans())
def test_best_dice_iou_match_brute_force(pair: tuple[np.ndarray, np.ndarray], f32: bool) -> None:
    a, s = pair
    if f32:
        a = a.astype(np.float32)
    if not s.any():
        assert best_dice(a, s) is None and best_iou(a, s) is None
        return
    assert best_dice(a, s) == _brute_best(a, s, "dice")
    assert best_iou(a, s) == _brute_best(a, s, "iou")


@settings(max_examples=150, deadline=None)
@given(pairs)
def test_relevance_mass_and_rank_brute_force(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, s = pair
    if not s.any():
        return
    mass = relevance_mass(a, s)
    if a.sum() > 0:
        assert mass == pytest.approx(a[s].sum() / a.sum(), abs=1e-12)
        assert mass is not None and 0.0 <= mass <= 1.0
    else:
        assert mass is None
    k = int(s.sum())
    flat = a.ravel()
    top = sorted(range(flat.size), key=lambda i: (-flat[i], i))[:k]  # row-major tie-break
    assert relevance_rank(a, s) == int(s.ravel()[top].sum()) / k


@settings(max_examples=100, deadline=None)
@given(pairs, st.integers(0, 4))
def test_pointing_matches_dilating_the_mask(pair: tuple[np.ndarray, np.ndarray], tol: int) -> None:
    """Reference: scipy's binary_dilation of S with a Euclidean disc, then any maximum in it."""
    from scipy.ndimage import binary_dilation

    a, s = pair
    value = pointing_game(a, s, tolerance=tol)
    if not s.any() or not a.any():
        assert value is None
        return
    r = np.arange(-tol, tol + 1)
    disc = r[:, None] ** 2 + r[None, :] ** 2 <= tol * tol
    dilated = binary_dilation(s, structure=disc) if tol else s
    assert value == float(bool(dilated[a == a.max()].any()))


# -- Quantus 0.6 -------------------------------------------------------------------------


def _quantus(metric: str, a: np.ndarray, s: np.ndarray) -> float:
    import quantus

    cls = getattr(quantus, metric)
    m = cls(normalise=False, abs=False, disable_warnings=True)
    h, w = a.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = m(model=None, x_batch=np.zeros((1, 1, h, w)), y_batch=np.zeros(1, dtype=int),
                a_batch=a[None, None].astype(np.float64), s_batch=s[None, None].astype(np.uint8),
                channel_first=True)
    return float(out[0])


distinct_pairs = st.integers(2, 7).flatmap(  # 2+ rows and columns: Quantus checks shapes by size
    lambda h: st.integers(2, 7).flatmap(
        lambda w: st.tuples(
            st.permutations(range(h * w)).map(lambda p: (np.array(p, dtype=np.float64).reshape(h, w) + 1) / (h * w)),
            arrays(np.bool_, (h, w)).filter(lambda m: 0 < m.sum() < m.size),
        )
    )
)


@settings(max_examples=60, deadline=None)
@given(distinct_pairs)
def test_matches_quantus_without_ties(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, s = pair
    assert pointing_game(a, s) == _quantus("PointingGame", a, s)
    assert relevance_mass(a, s) == pytest.approx(_quantus("RelevanceMassAccuracy", a, s), abs=1e-12)
    assert relevance_rank(a, s) == pytest.approx(_quantus("RelevanceRankAccuracy", a, s), abs=1e-12)
    assert auroc(a, s) == pytest.approx(_quantus("AUC", a, s), abs=1e-12)


def test_quantus_with_ties_agrees_on_auc_mass_and_pointing() -> None:
    assert auroc(A3, S3) == pytest.approx(_quantus("AUC", A3, S3), abs=1e-12)
    assert relevance_mass(A3, S3) == pytest.approx(_quantus("RelevanceMassAccuracy", A3, S3), abs=1e-12)
    flat_top = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert pointing_game(flat_top, np.array([[0, 1], [0, 0]])) == _quantus(
        "PointingGame", flat_top, np.array([[0, 1], [0, 0]]))


def test_quantus_differences() -> None:
    """Where Quantus 0.6's convention is not METHODS §9's (see the module docstring)."""
    a = np.array([[0.2, 1.0], [0.0, 0.5]])
    empty = np.zeros((2, 2), dtype=np.uint8)
    assert _quantus("PointingGame", a, empty) == 1.0  # NaN written into a bool array
    assert pointing_game(a, empty) is None
    zero = np.zeros((2, 2))
    s = np.array([[0, 0], [0, 1]], dtype=np.uint8)
    with pytest.raises(AssertionError, match="all equal to zero"):
        _quantus("PointingGame", zero, s)  # Quantus refuses an all-zero map
    assert pointing_game(zero, s) is None
    for name in ("RelevanceMassAccuracy", "RelevanceRankAccuracy", "AUC"):
        assert np.isnan(_quantus(name, a, empty))  # the same policy: undefined
    assert np.isnan(_quantus("AUC", a, np.ones((2, 2), dtype=np.uint8)))
    assert auroc(a, np.ones((2, 2))) is None
