"""Best-threshold Dice and IoU (Singh et al. §3.5; METHODS §9), per image and per dataset.

The map ``A`` is binarised as ``A >= t_k`` for t_k = k / 100, k = 0..100 (in the map's
float precision, see :func:`dermx_bench.masks.saliency.maps.thresholds`). Everything
follows from the per-threshold counts of one image against one non-empty mask S
(:class:`ThresholdCounts`): ``above[k]`` = |{A >= t_k}| and ``overlap[k]`` =
|{A >= t_k} ∩ S|. Then

- Dice_k = 2 overlap_k / (above_k + |S|),
- IoU_k  = overlap_k / (above_k + |S| - overlap_k),

both defined for every k since |S| > 0. The per-image best is the largest value and the
smallest t that gives it; the dataset-level variant chooses one t for all images, the one
that maximises the mean over images (smallest t on ties), from the counts alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dermx_bench.masks.saliency.maps import THRESHOLD_STEPS

__all__ = ["Overlap", "OVERLAPS", "Best", "ThresholdCounts", "DatasetBest", "dataset_best"]

Overlap = Literal["dice", "iou"]
OVERLAPS: tuple[Overlap, ...] = ("dice", "iou")


@dataclass(frozen=True)
class Best:
    """The best overlap of a binarised map with a mask, and the threshold that gave it.

    ``value`` in [0, 1]; ``threshold`` = k / 100 (a Python float, 0.0 .. 1.0).
    """

    value: float
    threshold: float


@dataclass(frozen=True, eq=False)
class ThresholdCounts:
    """Counts of one map against one non-empty mask at the 101 thresholds.

    ``above``, ``overlap``: int64 (101,), |{A >= t_k}| and |{A >= t_k} ∩ S| (both
    non-increasing in k); ``area``: |S| >= 1.
    """

    above: np.ndarray
    overlap: np.ndarray
    area: int

    def scores(self, kind: Overlap) -> np.ndarray:
        """Dice or IoU at each threshold, float64 (101,)."""
        above = self.above.astype(np.int64)
        overlap = self.overlap.astype(np.int64)
        if kind == "dice":
            return 2 * overlap / (above + self.area)
        if kind == "iou":
            return overlap / (above + self.area - overlap)
        raise ValueError(f"unknown overlap {kind!r}; choose one of: {', '.join(OVERLAPS)}")

    def best(self, kind: Overlap) -> Best:
        """The largest Dice (IoU) over the thresholds and the smallest t that gives it."""
        values = self.scores(kind)
        k = int(np.argmax(values))  # the first maximum: the smallest t
        return Best(float(values[k]), k / THRESHOLD_STEPS)


@dataclass(frozen=True, eq=False)
class DatasetBest:
    """One threshold for all images: ``threshold`` = k / 100, ``mean`` = the mean over
    images of the overlap at it, ``values`` = each image's overlap at it, float64 (n,)."""

    threshold: float
    mean: float
    values: np.ndarray


def dataset_best(counts: Sequence[ThresholdCounts], kind: Overlap) -> DatasetBest | None:
    """The threshold that maximises the mean Dice (IoU) over images (smallest t on ties).

    ``counts``: one :class:`ThresholdCounts` per image (or per image and reference, as the
    caller averages); images whose mask is empty have no counts (their overlap is
    undefined) and are left out by the caller. ``None`` for no counts.
    """
    if not counts:
        return None
    table = np.stack([c.scores(kind) for c in counts])  # (n, 101)
    means = table.mean(axis=0)
    k = int(np.argmax(means))
    return DatasetBest(k / THRESHOLD_STEPS, float(means[k]), table[:, k].copy())
