"""The field's localisation metrics of a map against a binary mask (METHODS §9), by name.

Every metric is a pure function ``(a, s, ...) -> value`` of

- ``a``: the map, float32/float64 (height, width) with values in [0, 1] (bool or integer
  0/1 maps are accepted, e.g. a rater's mask in the rater's seat), or its
  :class:`~dermx_bench.masks.saliency.maps.MapStats`, precomputed once per image;
- ``s``: the binary mask S, a (height, width) bool/0-1 array, a COCO RLE dict (scored
  from its runs, never decoded), or :class:`~dermx_bench.masks.saliency.maps.MaskPixels`.

N = number of pixels, |S| = pixels in S. A value of ``None`` means *undefined* (dropped
from averages). The policy shared by every metric: **an empty mask (|S| = 0) gives None**
(as Quantus returns NaN for an empty segmentation). Then, per metric:

================  ==========================  =================  ===============================
metric            S full (|S| = N)            A constant c > 0   A all zero
================  ==========================  =================  ===============================
best_dice         1 at t = 0                  2|S|/(N+|S|), t=0  2|S|/(N+|S|) at t = 0
best_iou          1 at t = 0                  |S|/N at t = 0     |S|/N at t = 0
spearman          None (S constant)           None               None
pointing_game     1                           1 (all maximal)    None
auroc             None                        0.5                0.5
relevance_mass    1                           |S|/N              None (ΣA = 0)
relevance_rank    1                           row-major share*   row-major share*
================  ==========================  =================  ===============================

\\* the share of S among the first |S| pixels in row-major order (ties at the cut are
broken by pixel order). The "S full" column assumes A is not all zero.

:func:`score_mask` computes all of them at once; each function alone gives the identical
value, as does any form of ``a`` and ``s`` (the same sums in the same order).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermx_bench.core.names import SALIENCY_METRIC_NAMES, THRESHOLD_METRICS, THRESHOLD_SUFFIX
from dermx_bench.core.registry import Registry
from dermx_bench.masks.rle import RLE
from dermx_bench.masks.saliency.maps import THRESHOLD_STEPS, MapStats, MaskPixels, check_tolerance
from dermx_bench.masks.saliency.thresholds import Best, ThresholdCounts

__all__ = [
    "SALIENCY_METRIC_NAMES",
    "THRESHOLD_METRICS",
    "MapLike",
    "MaskLike",
    "SaliencyScores",
    "threshold_counts",
    "best_dice",
    "best_iou",
    "spearman",
    "pointing_game",
    "auroc",
    "relevance_mass",
    "relevance_rank",
    "score_mask",
    "score_binary_counts",
    "list_saliency_metrics",
    "get_saliency_metric",
]


MapLike = np.ndarray | MapStats
MaskLike = np.ndarray | RLE | MaskPixels
SaliencyMetric = Callable[..., Any]
SALIENCY_METRICS: Registry[SaliencyMetric] = Registry("saliency metric")


def _prepare(a: MapLike, s: MaskLike) -> tuple[MapStats, MaskPixels]:
    stats = MapStats.of(a)
    mask = MaskPixels.of(s)
    if mask.shape != stats.shape:
        raise ValueError(f"mask shape {mask.shape} differs from the map's {stats.shape}")
    return stats, mask


# -- each metric from the per-pixel arrays of the map at the mask's pixels --------------------


def _counts(st: MapStats, m: MaskPixels) -> ThresholdCounts | None:
    if m.area == 0:
        return None
    per_bin = np.bincount(st.bins[m.index], minlength=THRESHOLD_STEPS + 1)
    overlap = np.cumsum(per_bin[::-1])[::-1]  # pixels of S with A >= t_k: bins k..100
    return ThresholdCounts(st.above, overlap.astype(np.int64), m.area)


def _rank_sum2(st: MapStats, m: MaskPixels) -> int:
    """Twice the sum over S of the average ranks of A (an exact integer)."""
    return int(np.sum(st.rank2[m.index], dtype=np.int64))


def _spearman_of(n: int, n1: int, rank_sum2: int, rank_ss12: int) -> float | None:
    n0 = n - n1
    if n1 == 0 or n0 == 0 or rank_ss12 == 0:
        return None
    # Pearson of the ranks of A with S (a two-valued S correlates as its ranks do):
    # rho = (2 R_S - |S| (N + 1)) / sqrt(rank_ss12 |S| (N - |S|) / (3 N)); rho² is an
    # exact ratio of integers, rounded once before the square root
    num = rank_sum2 - n1 * (n + 1)
    rho2 = (num * num * 3 * n) / (rank_ss12 * n1 * n0)
    return math.copysign(math.sqrt(rho2), num)


def _auroc_of(n: int, n1: int, rank_sum2: int) -> float | None:
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        return None
    # Mann-Whitney: AUROC = (R_S - |S| (|S| + 1) / 2) / (|S| (N - |S|)), ties counted 1/2
    return (rank_sum2 - n1 * (n1 + 1)) / (2 * n1 * n0)


def _spearman(st: MapStats, m: MaskPixels, rank_sum2: int | None = None) -> float | None:
    if m.area == 0 or m.area == st.n_pixels or st.rank_ss12 == 0:
        return None
    return _spearman_of(st.n_pixels, m.area, _rank_sum2(st, m) if rank_sum2 is None else rank_sum2, st.rank_ss12)


def _auroc(st: MapStats, m: MaskPixels, rank_sum2: int | None = None) -> float | None:
    if m.area == 0 or m.area == st.n_pixels:
        return None
    return _auroc_of(st.n_pixels, m.area, _rank_sum2(st, m) if rank_sum2 is None else rank_sum2)


def _pointing(st: MapStats, m: MaskPixels, tolerance: int) -> float | None:
    k = check_tolerance(tolerance)
    if m.area == 0 or st.all_zero:
        return None
    if k == 0:  # the maximal pixels are the positions below n_max
        return float(int(st.pos[m.index].min()) < st.n_max)
    near = st.near_max(k)
    j = np.searchsorted(m.index, near)
    ok = j < m.area
    return float(bool(np.any(m.index[j[ok]] == near[ok])))


def _mass(st: MapStats, m: MaskPixels) -> float | None:
    if m.area == 0 or st.total == 0:
        return None
    inside = float(np.sum(st.flat[m.index], dtype=np.float64))
    return min(inside / st.total, 1.0)


def _rank(st: MapStats, m: MaskPixels) -> float | None:
    if m.area == 0:
        return None
    # the top-|S| pixels are the positions below |S|
    return int(np.count_nonzero(st.pos[m.index] < m.area)) / m.area


# -- the public functions -----------------------------------------------------------------


def threshold_counts(a: MapLike, s: MaskLike) -> ThresholdCounts | None:
    """|{A >= t_k}| and |{A >= t_k} ∩ S| at the 101 thresholds; ``None`` for an empty S.

    The input of :func:`~dermx_bench.masks.saliency.thresholds.dataset_best` (one
    threshold for all images).
    """
    return _counts(*_prepare(a, s))


@SALIENCY_METRICS.register("best_dice")
def best_dice(a: MapLike, s: MaskLike) -> Best | None:
    """Best Dice of ``A >= t`` with S over t in {0.00, 0.01, ..., 1.00}, and that t.

    Dice = 2 |B ∩ S| / (|B| + |S|) with B = {A >= t}; the smallest t on ties. ``None``
    when S is empty. t = 0 selects every pixel, so a constant or all-zero map scores
    2|S| / (N + |S|) at t = 0.
    """
    counts = threshold_counts(a, s)
    return None if counts is None else counts.best("dice")


@SALIENCY_METRICS.register("best_iou")
def best_iou(a: MapLike, s: MaskLike) -> Best | None:
    """Best IoU |B ∩ S| / |B ∪ S| of B = {A >= t} with S, as :func:`best_dice`
    (a constant or all-zero map scores |S| / N at t = 0)."""
    counts = threshold_counts(a, s)
    return None if counts is None else counts.best("iou")


@SALIENCY_METRICS.register("spearman")
def spearman(a: MapLike, s: MaskLike) -> float | None:
    """Spearman's rank correlation of A and S over all pixels, in [-1, 1].

    Average ranks for ties (of A, and of S's two values). ``None`` when A is constant
    (including all zero) or S is constant (empty or full).
    """
    return _spearman(*_prepare(a, s))


@SALIENCY_METRICS.register("pointing_game")
def pointing_game(a: MapLike, s: MaskLike, tolerance: int = 0) -> float | None:
    """1.0 if a pixel where A is maximal lies in S dilated by ``tolerance`` pixels, else 0.0.

    Any maximal pixel counts. The dilation's neighbourhood is the Euclidean disc
    (Δrow)² + (Δcol)² <= tolerance², clipped to the image. ``None`` when A is all zero
    or S is empty; a constant map > 0 scores 1 (every pixel is maximal).
    """
    return _pointing(*_prepare(a, s), tolerance)


@SALIENCY_METRICS.register("auroc")
def auroc(a: MapLike, s: MaskLike) -> float | None:
    """Area under the ROC curve of A as a pixel classifier of S, in [0, 1].

    The probability that a pixel of S has a larger A than a pixel outside S, ties
    counting one half (Mann-Whitney U / (|S| (N - |S|))). ``None`` when S is empty or
    full; a constant or all-zero map scores 0.5.
    """
    return _auroc(*_prepare(a, s))


@SALIENCY_METRICS.register("relevance_mass")
def relevance_mass(a: MapLike, s: MaskLike) -> float | None:
    """ΣA over S / ΣA (Arras et al.), in [0, 1]. ``None`` when ΣA = 0 or S is empty."""
    return _mass(*_prepare(a, s))


@SALIENCY_METRICS.register("relevance_rank")
def relevance_rank(a: MapLike, s: MaskLike) -> float | None:
    """The share of S among the |S| pixels with the largest A (Arras et al.), in [0, 1].

    Ties at the cut are broken by pixel order (row-major: the smaller row, then the
    smaller column, comes first). ``None`` when S is empty; for a constant or all-zero
    map it is the share of S among the first |S| pixels in row-major order.
    """
    return _rank(*_prepare(a, s))


@dataclass(frozen=True)
class SaliencyScores:
    """Every metric of one map against one mask (``None``: undefined)."""

    best_dice: Best | None
    best_iou: Best | None
    spearman: float | None
    pointing_game: float | None
    auroc: float | None
    relevance_mass: float | None
    relevance_rank: float | None

    def as_row(self) -> dict[str, float | None]:
        """Flat values by column: the metric names, plus ``best_dice_threshold`` and
        ``best_iou_threshold`` after their metric."""
        row: dict[str, float | None] = {}
        for name in SALIENCY_METRIC_NAMES:
            value = getattr(self, name)
            if name in THRESHOLD_METRICS:
                row[name] = None if value is None else value.value
                row[f"{name}{THRESHOLD_SUFFIX}"] = None if value is None else value.threshold
            else:
                row[name] = value
        return row


def score_mask(a: MapLike, s: MaskLike, tolerance: int = 0) -> SaliencyScores:
    """All the metrics of ``a`` against ``s`` at once (the mask's pixels found once).

    Pass a :class:`MapStats` as ``a`` to score many masks of one image, and RLEs or
    :class:`MaskPixels` as ``s``. Values equal the single functions' exactly.
    """
    st, m = _prepare(a, s)
    counts = _counts(st, m)
    rank_sum2 = _rank_sum2(st, m) if 0 < m.area < st.n_pixels else None  # one gather for both metrics
    return SaliencyScores(
        best_dice=None if counts is None else counts.best("dice"),
        best_iou=None if counts is None else counts.best("iou"),
        spearman=_spearman(st, m, rank_sum2),
        pointing_game=_pointing(st, m, tolerance),
        auroc=_auroc(st, m, rank_sum2),
        relevance_mass=_mass(st, m),
        relevance_rank=_rank(st, m),
    )


def score_binary_counts(n: int, ones: int, area: int, overlap: int, rank: float | None) -> SaliencyScores:
    """All the metrics of a binary (0/1, float32) map A against S from counts alone.

    ``n`` = N pixels, ``ones`` = |A|, ``area`` = |S|, ``overlap`` = |A ∩ S|, ``rank``: the
    map's :func:`relevance_rank` (which needs the pixel order). Gives exactly what
    :func:`score_mask` gives the same map and mask (the same integers, then the same float
    operations), pointing game without tolerance, in O(1): a dermatologist's outline in the
    model's seat, or a map of ones or zeros, scored against many masks.
    """
    if area == 0:
        return SaliencyScores(None, None, None, None, None, None, None)
    zeros = n - ones
    above = np.full(THRESHOLD_STEPS + 1, ones, np.int64)
    above[0] = n
    inside = np.full(THRESHOLD_STEPS + 1, overlap, np.int64)
    inside[0] = area
    counts = ThresholdCounts(above, inside, area)
    # doubled average ranks: the ones share 2N - |A| + 1, the zeros N - |A| + 1
    rank_sum2 = overlap * (2 * n - ones + 1) + (area - overlap) * (zeros + 1)
    rank_ss12 = n**3 - n - (ones**3 - ones) - (zeros**3 - zeros)
    return SaliencyScores(
        best_dice=counts.best("dice"),
        best_iou=counts.best("iou"),
        spearman=_spearman_of(n, area, rank_sum2, rank_ss12),
        pointing_game=None if ones == 0 else float(overlap > 0),
        auroc=_auroc_of(n, area, rank_sum2),
        relevance_mass=None if ones == 0 else min(float(overlap) / float(ones), 1.0),
        relevance_rank=rank,
    )


def list_saliency_metrics() -> list[str]:
    """Names of the registered saliency metrics, in report order."""
    return SALIENCY_METRICS.names()


def get_saliency_metric(name: str) -> SaliencyMetric:
    """The metric ``(a, s, ...) -> float | Best | None`` registered as ``name``.

    Raises :class:`~dermx_bench.core.errors.RegistryError` naming the known metrics.
    """
    return SALIENCY_METRICS.get(name)
