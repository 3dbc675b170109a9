"""Fuzzy overlap metrics (METHODS.md §4, Crum et al. 2006).

For a map ``A`` (the one being scored) and a reference ``S``, both with values in
[0, 1] over the same pixels:

- F1 (fuzzy Dice)  = 2 Σ min(A, S) / (Σ A + Σ S)
- sensitivity      = Σ min(A, S) / Σ S
- specificity      = Σ min(1 - A, 1 - S) / Σ (1 - S)

Binary masks are the special case A, S in {0, 1}.

Empty-input policy (a value of ``None`` means *undefined*: it is dropped from
averages unless a table says otherwise):

- F1 is ``None`` when both maps are empty (Σ A = Σ S = 0) and 0 when exactly one is;
- sensitivity is ``None`` when the reference is empty (Σ S = 0);
- specificity is ``None`` when the reference has no negative mass (Σ (1 - S) = 0,
  i.e. S is 1 everywhere, or there are no pixels at all). Two empty maps therefore
  have specificity 1.

Every entry point reduces its inputs to the five sums of :func:`scores_from_sums`,
so binary masks give bit-identical results whether they come as arrays, as RLEs
(:func:`scores_rle`) or as a map against an RLE mask (:func:`scores_vs_binary` with
:func:`sum_over_rle`), as long as the sums are exact (integers below 2**53).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dermx_bench.core.registry import Registry
from dermx_bench.masks.rle import RLE, intersection_area
from dermx_bench.masks.rle import area as rle_area
from dermx_bench.masks.rle import runs as rle_runs

__all__ = [
    "Scores",
    "scores_from_sums",
    "fuzzy_scores",
    "scores_vs_binary",
    "scores_rle",
    "fortran_prefix",
    "sum_over_rle",
    "f1",
    "sensitivity",
    "specificity",
    "list_metrics",
    "get_metric",
    "METRICS",
]


@dataclass(frozen=True)
class Scores:
    """F1, sensitivity and specificity of one map against one reference (``None``: undefined)."""

    f1: float | None
    sensitivity: float | None
    specificity: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"f1": self.f1, "sensitivity": self.sensitivity, "specificity": self.specificity}


def scores_from_sums(
    sum_min: float,
    sum_a: float,
    sum_s: float,
    sum_min_complement: float,
    sum_s_complement: float,
) -> Scores:
    """Scores from the sufficient sums (the general form of METHODS §4).

    Arguments: ``sum_min`` = Σ min(A, S), ``sum_a`` = Σ A, ``sum_s`` = Σ S,
    ``sum_min_complement`` = Σ min(1 - A, 1 - S), ``sum_s_complement`` = Σ (1 - S).
    All are non-negative; the empty-input policy is the module's.
    """
    denom_f1 = sum_a + sum_s
    f1 = None if denom_f1 <= 0 else float(2.0 * sum_min / denom_f1)
    sens = None if sum_s <= 0 else float(sum_min / sum_s)
    spec = None if sum_s_complement <= 0 else float(sum_min_complement / sum_s_complement)
    return Scores(f1, sens, spec)


def _check_pair(a: np.ndarray, s: np.ndarray) -> None:
    if a.shape != s.shape:
        raise ValueError(f"maps must have the same shape, got {a.shape} and {s.shape}")


def fuzzy_scores(a: np.ndarray, s: np.ndarray) -> Scores:
    """Fuzzy F1/sensitivity/specificity of map ``a`` against reference ``s``.

    ``a``, ``s``: arrays of the same shape (any dimensionality), bool, integer 0/1 or
    float in [0, 1]. Sums are taken in float64.
    """
    a = np.asarray(a)
    s = np.asarray(s)
    _check_pair(a, s)
    af = a.astype(np.float64, copy=False)
    sf = s.astype(np.float64, copy=False)
    n = float(af.size)
    sum_a = float(af.sum())
    sum_s = float(sf.sum())
    sum_min = float(np.minimum(af, sf).sum())
    sum_max = float(np.maximum(af, sf).sum())
    # min(1-a, 1-s) = 1 - max(a, s)
    return scores_from_sums(sum_min, sum_a, sum_s, n - sum_max, n - sum_s)


def scores_vs_binary(sum_a: float, area_s: int, sum_a_on_s: float, n_pixels: int) -> Scores:
    """Scores of a map ``A`` in [0, 1] against a *binary* reference mask ``S``.

    ``sum_a`` = Σ A over all ``n_pixels`` pixels, ``area_s`` = |S|, ``sum_a_on_s`` =
    Σ A over the pixels of S. Then Σ min(A, S) = Σ A over S, Σ S = |S|, Σ (1 - S) =
    N - |S| and Σ min(1 - A, 1 - S) = (N - |S|) - (Σ A - Σ A over S).
    """
    comp = float(n_pixels - area_s)
    return scores_from_sums(
        float(sum_a_on_s), float(sum_a), float(area_s), comp - (float(sum_a) - float(sum_a_on_s)), comp
    )


def scores_rle(a: RLE, s: RLE) -> Scores:
    """Scores of binary mask ``a`` against binary mask ``s`` (COCO RLEs of the same size).

    Uses only the areas and the intersection area (pycocotools), never a decoded
    array; identical to ``fuzzy_scores(decode(a), decode(s))``.
    """
    if list(a["size"]) != list(s["size"]):
        raise ValueError(f"RLE sizes differ: {a['size']} and {s['size']}")
    h, w = (int(v) for v in a["size"])
    area_a = rle_area(a)
    area_s = rle_area(s)
    inter = intersection_area(a, s) if area_a and area_s else 0
    return binary_scores_from_areas(area_a, area_s, inter, h * w)


def binary_scores_from_areas(area_a: int, area_s: int, inter: int, n_pixels: int) -> Scores:
    """Scores of binary ``A`` against binary ``S`` from |A|, |S|, |A ∩ S| and N."""
    union = area_a + area_s - inter
    return scores_from_sums(
        float(inter), float(area_a), float(area_s), float(n_pixels - union), float(n_pixels - area_s)
    )


# -- sums of a map over an RLE mask, without decoding the mask --------------------------------


def fortran_prefix(a: np.ndarray) -> np.ndarray:
    """Prefix sums of a (height, width) map in column-major order, with a leading 0.

    Shape (height * width + 1,), float64. Compute once per map and pass it to
    :func:`sum_over_rle` to sum the map over many masks.
    """
    if a.ndim != 2:
        raise ValueError(f"expected a (height, width) map, got shape {a.shape}")
    out = np.empty(a.size + 1, dtype=np.float64)
    out[0] = 0.0
    np.cumsum(a.ravel(order="F"), dtype=np.float64, out=out[1:])
    return out


def sum_over_rle(a: np.ndarray, rle: RLE, prefix: np.ndarray | None = None) -> float:
    """Σ of the (height, width) map ``a`` over the pixels of a binary COCO RLE mask.

    The mask is never decoded: its runs are read from the compressed counts and the
    column-major prefix sum of ``a`` is differenced at the run boundaries. Equals
    ``(a * decode(rle)).sum()`` up to float rounding. ``prefix``: the result of
    :func:`fortran_prefix` for ``a``, to reuse across masks.
    """
    h, w = (int(v) for v in rle["size"])
    if a.shape != (h, w):
        raise ValueError(f"map shape {a.shape} differs from the mask size {(h, w)}")
    runs = rle_runs(rle)
    if runs.size < 2:
        return 0.0
    bounds = np.cumsum(runs)
    if int(bounds[-1]) != h * w:
        raise ValueError(f"RLE runs cover {int(bounds[-1])} pixels, expected {h * w}")
    c = fortran_prefix(a) if prefix is None else prefix
    starts = bounds[0::2]
    stops = bounds[1::2]
    m = stops.size
    return float((c[stops] - c[starts[:m]]).sum())


# -- registry -----------------------------------------------------------------------------

Metric = Callable[[np.ndarray, np.ndarray], "float | None"]
METRICS: Registry[Metric] = Registry("metric")


@METRICS.register("f1")
def f1(a: np.ndarray, s: np.ndarray) -> float | None:
    """Fuzzy Dice of ``a`` against ``s`` (see the module's empty-input policy)."""
    return fuzzy_scores(a, s).f1


@METRICS.register("sensitivity")
def sensitivity(a: np.ndarray, s: np.ndarray) -> float | None:
    """Fuzzy sensitivity of ``a`` against reference ``s``; ``None`` when ``s`` is empty."""
    return fuzzy_scores(a, s).sensitivity


@METRICS.register("specificity")
def specificity(a: np.ndarray, s: np.ndarray) -> float | None:
    """Fuzzy specificity of ``a`` against reference ``s``; ``None`` when ``s`` is all ones."""
    return fuzzy_scores(a, s).specificity


def list_metrics() -> list[str]:
    """Names of the registered metrics, in report order (f1, sensitivity, specificity)."""
    return METRICS.names()


def get_metric(name: str) -> Metric:
    """The metric function ``(a, s) -> float | None`` registered as ``name``."""
    return METRICS.get(name)
