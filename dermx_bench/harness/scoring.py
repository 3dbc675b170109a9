"""Scoring one explanation map against the dermatologists (METHODS.md §8), and diagnoses.

For an image, its full-resolution map ``A`` (float32 (height, width) in [0, 1]) and
every characteristic at least one counting rater drew, plus ``"union"`` (each rater's
union of all characteristics), :func:`score_map` gives one row per reference:

- ``rater:<name>`` for each counting rater who drew it: fuzzy F1 / sensitivity /
  specificity of ``A`` against that rater's binary mask, from ΣA, |S| and the sum of A
  over S (:func:`dermx_bench.masks.metrics.scores_vs_binary` with
  :func:`~dermx_bench.masks.metrics.sum_over_rle`; the mask is never decoded);
- ``fusion:<rule>``: against the fusion of the counting raters' masks (fuzzy by
  default: the fraction of counting raters who drew each pixel).

The per-rater figure of the DermX protocol is the mean over the ``rater:`` rows of an
image (see :mod:`dermx_bench.stats.aggregate`). Undefined values (METHODS §4: e.g.
sensitivity against an empty reference) are ``None``. Diagnostic performance is
:func:`dermx_bench.stats.diagnosis.diagnosis_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dermx_bench.consensus.fusion import DEFAULT_RULE, get_fusion_rule, segments
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import FUSION_PREFIX, RATER_PREFIX, UNION
from dermx_bench.masks import rle
from dermx_bench.masks.metrics import Scores, scores_from_sums, scores_vs_binary, sum_over_rle
from dermx_bench.masks.rle import RLE
from dermx_bench.stats.diagnosis import diagnosis_scores

__all__ = ["ScoreRow", "characteristics_of", "diagnosis_scores", "fusion_reference", "fusion_scores",
           "rater_reference", "score_map"]


def rater_reference(rater: str) -> str:
    return f"{RATER_PREFIX}{rater}"


def fusion_reference(rule: str = DEFAULT_RULE) -> str:
    return f"{FUSION_PREFIX}{rule}"


@dataclass(frozen=True)
class ScoreRow:
    """One row of ``scores.csv``: a map against one reference for one characteristic.

    ``map_sum`` = ΣA over the image; ``reference_sum`` = ΣS (mask area, or the fusion's
    mass); ``all_zero``: the map is zero everywhere.
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def characteristics_of(ref: ImageReference) -> list[str]:
    """What an image is scored on: drawn characteristics (ontology order), then ``union``."""
    out = ref.characteristics()
    if ref.drawn(UNION):
        out.append(UNION)
    return out


def score_map(ref: ImageReference, a: np.ndarray, fusion_rule: str = DEFAULT_RULE) -> list[ScoreRow]:
    """All rows for one image: per characteristic (and ``union``), per rater, then the fusion.

    ``a``: float32 (height, width) in [0, 1] at the image's full resolution. Sums are
    taken in float64 over the column-major pixel order; no mask is decoded (see
    :func:`fusion_scores`).
    """
    if a.shape != ref.size:
        raise ValueError(f"{ref.image}: map shape {a.shape} differs from the image size {ref.size}")
    flat = np.asarray(a, dtype=np.float64).ravel(order="F")
    prefix = np.empty(flat.size + 1, dtype=np.float64)
    prefix[0] = 0.0
    np.cumsum(flat, out=prefix[1:])
    sum_a = float(prefix[-1])
    n = ref.n_pixels
    zero = not bool(sum_a > 0)
    rows: list[ScoreRow] = []
    for ch in characteristics_of(ref):
        drawn = ref.drawn(ch)
        for rater, mask in drawn.items():
            area = rle.area(mask)
            s = scores_vs_binary(sum_a, area, sum_over_rle(a, mask, prefix), n)
            rows.append(_row(ref.image, ch, rater_reference(rater), s, sum_a, float(area), zero))
        s, mass = fusion_scores(flat, prefix, list(drawn.values()), len(ref.raters), fusion_rule)
        rows.append(_row(ref.image, ch, fusion_reference(fusion_rule), s, sum_a, mass, zero))
    return rows


def fusion_scores(
    flat: np.ndarray, prefix: np.ndarray, masks: Sequence[RLE], n_counting: int, rule: str = DEFAULT_RULE
) -> tuple[Scores, float]:
    """Fuzzy scores of a map against the fusion of ``masks`` (and the fusion's mass ΣF).

    ``flat``: the map in column-major order, float64 (N,); ``prefix``: its cumulative
    sum with a leading 0 (N + 1,). The fusion is constant on the segments of the raters'
    coverage count n(x) (:func:`dermx_bench.consensus.fusion.segments`), with the value
    ``#{t in thresholds : n >= t} / denominator`` of the rule. Where it is 0,
    min(A, F) = 0 and max(A, F) = A (prefix-sum differences); only the pixels some
    rater covered are visited. Equals ``fuzzy_scores(a, fuse(masks, n_counting, rule))``
    up to float rounding (the values i/|R| are taken in float64 here).
    """
    n = int(flat.size)
    sum_a = float(prefix[-1])
    if not masks:
        return scores_from_sums(0.0, sum_a, 0.0, n - sum_a, float(n)), 0.0
    thresholds, denom = get_fusion_rule(rule).thresholds(len(masks), n_counting)
    lengths, cov = segments(masks, n)
    levels = np.arange(len(masks) + 1)
    value = np.array([sum(1 for t in thresholds if k >= t) for k in levels], dtype=np.float64) / float(denom)
    seg_val = value[cov]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    on = seg_val > 0
    sum_s = float((seg_val[on] * lengths[on]).sum())
    if on.any():
        # every covered pixel: its column-major index and the fusion value there
        ln = lengths[on]
        idx = np.repeat(starts[on] - np.concatenate(([0], np.cumsum(ln)[:-1])), ln) + np.arange(int(ln.sum()))
        f = np.repeat(seg_val[on], ln)
        av = flat[idx]
        sum_min = float(np.minimum(av, f).sum())
        sum_a_on = float((prefix[ends[on]] - prefix[starts[on]]).sum())
        sum_max = (sum_a - sum_a_on) + float(np.maximum(av, f).sum())
    else:
        sum_min, sum_max = 0.0, sum_a
    return scores_from_sums(sum_min, sum_a, sum_s, n - sum_max, n - sum_s), sum_s


def _row(image: str, ch: str, reference: str, s: Scores, sum_a: float, sum_s: float, zero: bool) -> ScoreRow:
    return ScoreRow(image, ch, reference, s.f1, s.sensitivity, s.specificity, sum_a, sum_s, zero)
