"""Scoring one explanation map against an image's dermatologists (METHODS.md §8).

For an image, a map ``A`` (values in [0, 1] at the image's full resolution: an array, or
any :class:`~dermx_bench.consensus.maps.ScoredMap`) and every characteristic at least one
counting rater drew, plus ``"union"`` (each rater's union of all characteristics),
:func:`score_map` gives one row per reference:

- ``rater:<name>`` for each counting rater who drew it: fuzzy F1 / sensitivity /
  specificity of ``A`` against that rater's binary mask S, from ΣA, |S| and Σ A over S
  (Σ min(A, S) = Σ A over S; Σ min(1 - A, 1 - S) = (N - |S|) - (ΣA - Σ A over S));
- ``fusion:<rule>``: against the fusion F of the counting raters' masks (fuzzy by
  default: the fraction of counting raters who drew each pixel). F is constant on the
  segments of the raters' coverage count n(x); where it is 0, min(A, F) = 0 and
  max(A, F) = A, elsewhere the map gives Σ min(A, F) and Σ max(A, F) per segment.

This is the one code path every map is scored with: a model's map (the harness), a
dermatologist's own outline in the model's seat (the like-for-like human reference,
:mod:`~dermx_bench.consensus.human_reference`) and the trivial maps
(:mod:`~dermx_bench.consensus.floors`). What the references contribute (the masks' runs,
the fusion's segments) is gathered once per image in a :class:`ScoringPlan`; the map is
then evaluated on all of them in a few vectorised steps. No mask is decoded. Undefined
values (METHODS §4: e.g. sensitivity against an empty reference) are ``None``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np

from dermx_bench.consensus.agreement_table import vector_scores
from dermx_bench.consensus.fusion import DEFAULT_RULE, get_fusion_rule
from dermx_bench.consensus.maps import BinaryMap, ScoredMap, as_scored_map
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import FUSION_PREFIX, RATER_PREFIX, UNION
from dermx_bench.masks.saliency import MaskPixels, relevance_rank, score_binary_counts, score_mask

__all__ = ["BINARY_FUSION_AT", "MapScorer", "ScoreRow", "ScoringPlan", "rater_reference", "fusion_reference",
           "characteristics_of", "score_map", "scoring_plan"]

BINARY_FUSION_AT = 0.5
"""The saliency metrics (binary masks) see a fusion F as the mask {F >= 1/2}: the fusion itself
for the binary rules (any, full, majority: F in {0, 1}); for the fuzzy rules, the pixels at
least half the raters drew (fuzzy: half the counting raters, fuzzy_relative: half of those
who drew the characteristic)."""


def rater_reference(rater: str) -> str:
    return f"{RATER_PREFIX}{rater}"


def fusion_reference(rule: str = DEFAULT_RULE) -> str:
    return f"{FUSION_PREFIX}{rule}"


@dataclass(frozen=True)
class ScoreRow:
    """One row of ``scores.csv``: a map against one reference for one characteristic.

    ``f1``, ``sensitivity``, ``specificity``: the fuzzy metrics (METHODS §4) against the
    rater's mask or the (fuzzy) fusion; ``map_sum`` = ΣA over the image; ``reference_sum``
    = ΣS (mask area, or the fusion's mass); ``all_zero``: the map is zero everywhere. The
    saliency metrics of METHODS §9 (:data:`~dermx_bench.core.names.SALIENCY_COLUMNS`) are
    scored against the rater's mask, or the fusion binarised as :func:`binary_fusion` says
    (None where undefined, or when not computed).
    """

    image: str
    characteristic: str
    reference: str
    f1: float | None
    sensitivity: float | None
    specificity: float | None
    map_sum: float
    reference_sum: float
    all_zero: bool
    best_dice: float | None = None
    best_dice_threshold: float | None = None
    best_iou: float | None = None
    best_iou_threshold: float | None = None
    spearman: float | None = None
    pointing_game: float | None = None
    auroc: float | None = None
    relevance_mass: float | None = None
    relevance_rank: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def characteristics_of(ref: ImageReference) -> list[str]:
    """What an image is scored on: drawn characteristics (ontology order), then ``union``."""
    out = ref.characteristics()
    if ref.drawn(UNION):
        out.append(UNION)
    return out


@dataclass(frozen=True)
class ScoringPlan:
    """The references of one image as :func:`score_map` evaluates a map on them.

    ``keys``: (characteristic, reference) of each row, in row order; ``fusion``: bool per
    row; ``reference_sum``: |S| or ΣF per row. ``run_*``: the runs of ones of every
    rater row's mask, concatenated (``run_row``: the row of each run); ``seg_*``: the
    segments where a fusion row's F is positive, with F there (``seg_row``: its row).
    Column-major pixel indices, int64; F in float64.
    """

    image: str
    size: tuple[int, int]
    keys: list[tuple[str, str]]
    fusion: np.ndarray
    reference_sum: np.ndarray
    run_starts: np.ndarray
    run_stops: np.ndarray
    run_row: np.ndarray
    seg_starts: np.ndarray
    seg_stops: np.ndarray
    seg_values: np.ndarray
    seg_row: np.ndarray


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def scoring_plan(ref: ImageReference, fusion_rule: str = DEFAULT_RULE) -> ScoringPlan:
    """The :class:`ScoringPlan` of an image (kept in ``ref``'s cache: scoring several maps on
    one image builds it once)."""
    key = ("plan", fusion_rule, *ref.raters)
    if key not in ref.cache:
        ref.cache[key] = _plan(ref, fusion_rule)
    return cast(ScoringPlan, ref.cache[key])


@functools.lru_cache(maxsize=256)
def _level_values(rule_name: str, n_drawn: int, n_counting: int) -> np.ndarray:
    """The fusion's value for each coverage count 0 .. ``n_drawn`` (float64, read-only)."""
    thresholds, denom = get_fusion_rule(rule_name).thresholds(n_drawn, n_counting)
    value = np.searchsorted(np.asarray(sorted(thresholds), np.int64), np.arange(n_drawn + 1),
                            side="right") / float(denom)
    value.setflags(write=False)
    return value


def _plan(ref: ImageReference, fusion_rule: str) -> ScoringPlan:
    get_fusion_rule(fusion_rule)  # RegistryError for an unknown rule, even on an image with no drawing
    n = ref.n_pixels
    keys: list[tuple[str, str]] = []
    run_parts: list[tuple[np.ndarray, np.ndarray]] = []
    run_rows: list[int] = []
    lengths_l: list[np.ndarray] = []
    values_l: list[np.ndarray] = []
    seg_rows: list[int] = []
    for ch in characteristics_of(ref):
        drawn = ref.drawn(ch)
        for rater in drawn:
            run_parts.append(ref.runs(ch, rater))
            run_rows.append(len(keys))
            keys.append((ch, rater_reference(rater)))
        lengths, cov = ref.coverage(ch)
        lengths_l.append(lengths)
        values_l.append(_level_values(fusion_rule, len(drawn), len(ref.raters))[cov])
        seg_rows.append(len(keys))
        keys.append((ch, fusion_reference(fusion_rule)))
    n_rows = len(keys)
    is_fusion = np.zeros(n_rows, bool)
    is_fusion[seg_rows] = True
    run_starts = _cat([r[0] for r in run_parts], np.int64)
    run_stops = _cat([r[1] for r in run_parts], np.int64)
    run_row = np.repeat(np.asarray(run_rows, np.int64), [r[0].size for r in run_parts])
    # every characteristic's segments cover the image once: in the concatenation, a segment of
    # the k-th characteristic ends at (global cumulative length) - k * n
    lengths = _cat(lengths_l, np.int64)
    seg_values = _cat(values_l, np.float64)
    k = np.repeat(np.arange(len(lengths_l), dtype=np.int64), [x.size for x in lengths_l])
    stops = np.cumsum(lengths) - k * n
    on = seg_values > 0
    seg_row = np.asarray(seg_rows, np.int64)[k[on]]
    seg_stops, seg_starts, seg_values = stops[on], (stops - lengths)[on], seg_values[on]
    ref_sum = np.bincount(run_row, weights=(run_stops - run_starts), minlength=n_rows)
    # ΣF summed as score_map sums Σ min(A, F), so that a map of ones has sensitivity exactly 1
    mass = np.bincount(seg_row, weights=seg_values * (seg_stops - seg_starts), minlength=n_rows)
    return ScoringPlan(ref.image, ref.size, keys, is_fusion, np.where(is_fusion, mass, ref_sum),
                       run_starts, run_stops, run_row, seg_starts, seg_stops, seg_values, seg_row)


MapScorer = Callable[[ImageReference, "np.ndarray | ScoredMap", str], Sequence[Any]]
"""A function scoring a map on an image as :func:`score_map` does (``(ref, map, fusion_rule)``
-> rows with an attribute per ``scores.csv`` column): what the like-for-like reference and
the floors are computed with, so that a scorer with more metric columns gives them too."""


def _none(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def _mask_runs(plan: ScoringPlan, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The binary mask of one row as runs: the rater's, or the fusion's segments with F >= 1/2."""
    if plan.fusion[row]:
        sel = (plan.seg_row == row) & (plan.seg_values >= BINARY_FUSION_AT)
        return plan.seg_starts[sel], plan.seg_stops[sel]
    sel = plan.run_row == row
    return plan.run_starts[sel], plan.run_stops[sel]


def _saliency(plan: ScoringPlan, m: ScoredMap, tolerance: int) -> list[dict[str, float | None]]:
    stats = m.map_stats()
    if not (isinstance(m, BinaryMap) and tolerance == 0):
        return [score_mask(stats, MaskPixels.from_runs(plan.size, *_mask_runs(plan, i)), tolerance).as_row()
                for i in range(len(plan.keys))]
    # a binary map (an outline in the model's seat, a map of ones or zeros): every metric but
    # relevance_rank from |A|, |S| and |A ∩ S|, counted on the runs (score_binary_counts)
    n, ones = plan.size[0] * plan.size[1], int(m.total)
    out = []
    for i in range(len(plan.keys)):
        starts, stops = _mask_runs(plan, i)
        area = int(np.sum(stops - starts))
        overlap = int(round(float(np.sum(m.prefix(stops) - m.prefix(starts)))))
        rank = relevance_rank(stats, MaskPixels.from_runs(plan.size, starts, stops)) if area else None
        out.append(score_binary_counts(n, ones, area, overlap, rank).as_row())
    return out


def score_map(
    ref: ImageReference | ScoringPlan, a: np.ndarray | ScoredMap, fusion_rule: str = DEFAULT_RULE, *,
    saliency: bool = True, tolerance: int = 0,
) -> list[ScoreRow]:
    """All rows for one image: per characteristic (and ``union``), per rater, then the fusion.

    ``ref``: the image's references (or their :func:`scoring_plan`); ``a``: float32/float64 (height, width) in [0, 1] at the image's full
    resolution, or a :class:`~dermx_bench.consensus.maps.ScoredMap` of that size. Sums
    are taken in float64 over the column-major pixel order. ``saliency``: also score the
    metrics of METHODS §9 (:func:`~dermx_bench.masks.saliency.score_mask` on
    the map's :meth:`~dermx_bench.consensus.maps.ScoredMap.map_stats`: an array as given, other
    forms as float32; the pointing game with ``tolerance`` pixels); else they are None.
    """
    plan = ref if isinstance(ref, ScoringPlan) else scoring_plan(ref, fusion_rule)
    m = as_scored_map(a)
    if m.size != plan.size:
        raise ValueError(f"{plan.image}: map shape {m.size} differs from the image size {plan.size}")
    n_rows = len(plan.keys)
    if n_rows == 0:
        return []
    n = float(plan.size[0] * plan.size[1])
    sum_a = m.total
    on_s = np.bincount(plan.run_row, weights=m.prefix(plan.run_stops) - m.prefix(plan.run_starts),
                       minlength=n_rows)
    mins, maxs = m.min_max_runs(plan.seg_starts, plan.seg_stops, plan.seg_values)
    on_f = np.bincount(plan.seg_row, weights=m.prefix(plan.seg_stops) - m.prefix(plan.seg_starts),
                       minlength=n_rows)
    f_min = np.bincount(plan.seg_row, weights=mins, minlength=n_rows)
    f_max = (sum_a - on_f) + np.bincount(plan.seg_row, weights=maxs, minlength=n_rows)
    s = plan.reference_sum
    sum_min = np.where(plan.fusion, f_min, on_s)
    min_c = np.where(plan.fusion, n - f_max, (n - s) - (sum_a - on_s))
    f1, sens, spec = vector_scores(sum_min, np.full(n_rows, sum_a), s, min_c, n - s)
    zero = not bool(sum_a > 0)
    extra = _saliency(plan, m, tolerance) if saliency else [{}] * n_rows
    return [
        ScoreRow(plan.image, ch, reference, _none(f1[i]), _none(sens[i]), _none(spec[i]), sum_a, float(s[i]), zero,
                 **extra[i])
        for i, (ch, reference) in enumerate(plan.keys)
    ]
