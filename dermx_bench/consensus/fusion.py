"""Fusing several raters' masks into one consensus map (METHODS.md §5).

Per image and characteristic, with ``n(x)`` the number of raters whose mask covers
pixel ``x``, ``D`` the raters who drew the characteristic (the ``masks`` passed in)
and ``R`` the raters whose evaluation of the image counts (``n_counting = |R|``):

- ``any``: n >= 1 (union);
- ``full``: n = |D| (intersection of those who drew);
- ``majority``: n > |R| / 2;
- ``fuzzy`` (**default**): n / |R| (a rater who did not draw it contributes 0);
- ``fuzzy_relative``: n / |D|.

Every rule is a set of thresholds on ``n`` and a denominator: the fused value of a
pixel is ``#{t in thresholds : n(x) >= t} / denominator``. The fusion is therefore
held losslessly as nested binary level sets (:class:`FuzzyRLE`), one COCO RLE per
threshold, computed from the masks' runs without decoding any mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dermx_bench.core.registry import Registry
from dermx_bench.masks import rle
from dermx_bench.masks.rle import RLE, encode_runs
from dermx_bench.masks.rle import area as rle_area
from dermx_bench.masks.rle import bbox as rle_bbox

__all__ = [
    "FusionRule",
    "FuzzyRLE",
    "FUSION_RULES",
    "DEFAULT_RULE",
    "list_fusion_rules",
    "get_fusion_rule",
    "fuse",
    "fuse_levels",
    "coverage",
    "coverage_histogram",
    "events",
    "events_of_runs",
    "ones_runs",
    "segments",
    "segments_of_events",
    "segments_of_runs",
    "levels_to_coco",
]

DEFAULT_RULE = "fuzzy"


@dataclass(frozen=True)
class FusionRule:
    """A fusion rule: thresholds on the rater count ``n(x)`` and a denominator.

    ``thresholds(n_drawn, n_counting)`` returns ``(thresholds, denominator)``; the fused
    value is ``#{t : n(x) >= t} / denominator``. ``binary`` rules give 0/1 maps.
    """

    name: str
    description: str
    binary: bool
    thresholds: Callable[[int, int], tuple[list[int], int]] = field(repr=False)


FUSION_RULES: Registry[FusionRule] = Registry("fusion rule")


def _any(d: int, r: int) -> tuple[list[int], int]:
    return ([1] if d else []), 1


def _full(d: int, r: int) -> tuple[list[int], int]:
    return ([d] if d else []), 1


def _majority(d: int, r: int) -> tuple[list[int], int]:
    t = r // 2 + 1  # smallest n with n > r / 2
    return ([t] if 0 < t <= d else []), 1


def _fuzzy(d: int, r: int) -> tuple[list[int], int]:
    return list(range(1, d + 1)), max(r, 1)


def _fuzzy_relative(d: int, r: int) -> tuple[list[int], int]:
    return list(range(1, d + 1)), max(d, 1)


for _rule in (
    FusionRule("any", "union: n >= 1", True, _any),
    FusionRule("full", "intersection of the raters who drew it: n = |D|", True, _full),
    FusionRule("majority", "more than half of the counting raters: n > |R| / 2", True, _majority),
    FusionRule("fuzzy", "fraction of the counting raters: n / |R| (default)", False, _fuzzy),
    FusionRule("fuzzy_relative", "fraction of the raters who drew it: n / |D|", False, _fuzzy_relative),
):
    FUSION_RULES.add(_rule.name, _rule)


def list_fusion_rules() -> list[str]:
    """Names of the registered fusion rules: any, full, majority, fuzzy, fuzzy_relative."""
    return FUSION_RULES.names()


def get_fusion_rule(name: str) -> FusionRule:
    """The :class:`FusionRule` registered as ``name`` (RegistryError if unknown)."""
    return FUSION_RULES.get(name)


# -- coverage from runs -----------------------------------------------------------------------


def _size_of(masks: Sequence[RLE], size: tuple[int, int] | None) -> tuple[int, int]:
    sizes = {(int(m["size"][0]), int(m["size"][1])) for m in masks}
    if size is not None:
        sizes.add((int(size[0]), int(size[1])))
    if not sizes:
        raise ValueError("no masks: pass size=(height, width) to fuse an empty set of raters")
    if len(sizes) > 1:
        raise ValueError(f"masks of different sizes: {sorted(sizes)}")
    return sizes.pop()


def ones_runs(mask: RLE, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` int64 of the runs of ones of a COCO RLE (column-major pixel indices).

    ValueError when the runs do not cover ``n_pixels`` pixels.
    """
    bounds = np.cumsum(rle.runs(mask))
    if bounds.size == 0:
        z = np.zeros(0, np.int64)
        return z, z
    if int(bounds[-1]) != n_pixels:
        raise ValueError(f"RLE runs cover {int(bounds[-1])} pixels, expected {n_pixels}")
    stops = bounds[1::2]
    return bounds[0::2][: stops.size], stops


Runs = tuple[np.ndarray, np.ndarray]
"""A mask's runs of ones as ``(starts, stops)`` (see :func:`ones_runs`)."""


def events(masks: Sequence[RLE], n_pixels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run boundaries of several masks as sorted events over the column-major pixel index.

    Returns ``(pos, delta, owner)`` int64 arrays: at ``pos`` the mask ``owner`` starts
    (``delta`` = +1) or stops (-1) covering pixels. Sorted by position, starts before
    stops at equal positions, so running sums never leave [0, len(masks)].
    """
    return events_of_runs([ones_runs(m, n_pixels) for m in masks])


def events_of_runs(runs: Sequence[Runs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`events` of masks given as their runs of ones."""
    pos_l: list[np.ndarray] = []
    delta_l: list[np.ndarray] = []
    owner_l: list[np.ndarray] = []
    for i, (starts, stops) in enumerate(runs):
        pos_l += [starts, stops]
        delta_l += [np.ones(starts.size, np.int64), np.full(stops.size, -1, np.int64)]
        owner_l += [np.full(starts.size + stops.size, i, np.int64)]
    if not pos_l:
        z = np.zeros(0, np.int64)
        return z, z, z
    pos = np.concatenate(pos_l)
    delta = np.concatenate(delta_l)
    owner = np.concatenate(owner_l)
    order = np.argsort(pos * 2 + (delta < 0), kind="stable")
    return pos[order], delta[order], owner[order]


def segments(masks: Sequence[RLE], n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant coverage ``n(x)`` over the column-major pixel index.

    Returns ``(lengths, cov)`` int64 arrays: consecutive segments of positive length
    covering 0 .. ``n_pixels`` and the number of masks covering each.
    """
    return segments_of_runs([ones_runs(m, n_pixels) for m in masks], n_pixels)


def segments_of_runs(runs: Sequence[Runs], n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`segments` of masks given as their runs of ones."""
    pos, delta, _ = events_of_runs(runs)
    return segments_of_events(pos, delta, n_pixels)


def segments_of_events(pos: np.ndarray, delta: np.ndarray, n_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`segments` from sorted events (:func:`events`); events whose ``delta`` is set to
    0 leave their mask out."""
    bounds = np.concatenate(([0], pos, [n_pixels]))
    cov = np.concatenate(([0], np.cumsum(delta)))
    lengths = np.diff(bounds)
    keep = lengths > 0
    return lengths[keep], cov[keep]


def _level_counts(lengths: np.ndarray, cov: np.ndarray, t: int) -> list[int]:
    """Uncompressed COCO counts of the level set ``n >= t``."""
    flag = cov >= t
    ends = np.cumsum(lengths)
    change = np.flatnonzero(flag[1:] != flag[:-1]) + 1
    edges = np.concatenate(([0], ends[change - 1], ends[-1:]))
    runs = np.diff(edges)
    if flag[0]:
        runs = np.concatenate(([0], runs))
    return [int(x) for x in runs]


def coverage_histogram(masks: Sequence[RLE], size: tuple[int, int] | None = None) -> np.ndarray:
    """Number of pixels covered by exactly ``i`` masks, for i = 0 .. len(masks). int64."""
    h, w = _size_of(masks, size)
    lengths, cov = segments(masks, h * w)
    return np.bincount(cov, weights=lengths, minlength=len(masks) + 1).astype(np.int64)


def coverage(masks: Sequence[RLE], size: tuple[int, int] | None = None) -> np.ndarray:
    """``n(x)``: the number of masks covering each pixel, uint16 (height, width)."""
    h, w = _size_of(masks, size)
    lengths, cov = segments(masks, h * w)
    flat = np.repeat(cov.astype(np.uint16), lengths)
    return np.ascontiguousarray(flat.reshape(w, h).T)


# -- fusion -------------------------------------------------------------------------------


def _check(masks: Sequence[RLE], n_counting: int) -> None:
    if n_counting < len(masks):
        raise ValueError(
            f"n_counting={n_counting} is smaller than the number of raters who drew ({len(masks)})"
        )


def fuse(
    masks: Sequence[RLE], n_counting: int, rule: str = DEFAULT_RULE, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Fuse the masks of the raters who drew a characteristic into one map.

    ``masks``: COCO RLEs (all the same size) of the raters in D; ``n_counting``: |R| >= |D|;
    ``size``: (height, width), needed only when ``masks`` is empty. Returns a float32
    (height, width) array with values in [0, 1] (exactly 0/1 for binary rules, i / denominator
    for fuzzy rules).
    """
    spec = get_fusion_rule(rule)
    _check(masks, n_counting)
    h, w = _size_of(masks, size)
    thresholds, den = spec.thresholds(len(masks), n_counting)
    lengths, cov = segments(masks, h * w)
    count = np.searchsorted(np.asarray(sorted(thresholds), np.int64), cov, side="right")
    values = (count / den).astype(np.float32)
    flat = np.repeat(values, lengths)
    return np.ascontiguousarray(flat.reshape(w, h).T)


@dataclass(frozen=True)
class FuzzyRLE:
    """A fused map held losslessly as nested level sets.

    ``levels[j]`` is the COCO RLE of the pixels with ``n(x) >= thresholds[j]`` (nested:
    each contains the next); the value of a pixel is ``#{j : x in levels[j]} / denominator``.
    For ``fuzzy`` the thresholds are 1 .. |D| and the denominator |R|; binary rules have at
    most one level and denominator 1.
    """

    size: tuple[int, int]
    rule: str
    n_counting: int
    n_drawn: int
    thresholds: list[int]
    denominator: int
    levels: list[RLE]

    def value_of_level(self, j: int) -> float:
        """The fused value on ``levels[j]`` minus ``levels[j + 1]``: (j + 1) / denominator."""
        return (j + 1) / self.denominator

    def _per_pixel(self, values_of_count: np.ndarray) -> np.ndarray:
        """Lay ``values_of_count[count]`` out as a (height, width) image, one value per segment."""
        h, w = self.size
        lengths, cov = segments(self.levels, h * w)
        flat = np.repeat(values_of_count[cov], lengths)
        return np.ascontiguousarray(flat.reshape(w, h).T)

    def level_counts(self) -> np.ndarray:
        """Number of level sets containing each pixel: int64 (height, width) in 0 .. len(levels)."""
        return self._per_pixel(np.arange(len(self.levels) + 1, dtype=np.int64))

    def to_array(self) -> np.ndarray:
        """Decode to the float32 (height, width) map ``fuse`` returns."""
        counts = np.arange(len(self.levels) + 1, dtype=np.int64)
        return self._per_pixel((counts / self.denominator).astype(np.float32))

    def to_uint8(self) -> np.ndarray:
        """8-bit (height, width) image of the map: round(255 * value), halves rounded up,
        computed exactly from the integer level counts."""
        counts = np.arange(len(self.levels) + 1, dtype=np.int64)
        return self._per_pixel(((510 * counts + self.denominator) // (2 * self.denominator)).astype(np.uint8))

    def areas(self) -> list[int]:
        """Pixel count of each level set."""
        return [rle_area(lv) for lv in self.levels]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (level RLEs with string counts)."""
        return {
            "size": list(self.size), "rule": self.rule, "n_counting": self.n_counting,
            "n_drawn": self.n_drawn, "thresholds": list(self.thresholds),
            "denominator": self.denominator, "levels": [dict(lv) for lv in self.levels],
        }


def fuse_levels(
    masks: Sequence[RLE], n_counting: int, rule: str = DEFAULT_RULE, size: tuple[int, int] | None = None
) -> FuzzyRLE:
    """Fuse as :func:`fuse` but return the lossless level-set form (no mask is decoded)."""
    spec = get_fusion_rule(rule)
    _check(masks, n_counting)
    h, w = _size_of(masks, size)
    thresholds, den = spec.thresholds(len(masks), n_counting)
    lengths, cov = segments(masks, h * w)
    levels = [encode_runs(_level_counts(lengths, cov, t), (h, w)) for t in thresholds]
    return FuzzyRLE((h, w), rule, n_counting, len(masks), thresholds, den, levels)


def levels_to_coco(
    fused: Sequence[tuple[str, str, FuzzyRLE]], file_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """A COCO-style document of fused maps: one ``iscrowd`` RLE annotation per level set.

    ``fused``: ``(image, characteristic, FuzzyRLE)`` triples. Each annotation carries the
    standard ``segmentation``/``area``/``bbox``/``iscrowd`` fields plus ``level`` (the
    index j), ``threshold`` (n >= threshold), ``value`` ((j + 1) / denominator: the fused
    value of the pixels in this level and in no higher one), ``rule``, ``n_counting``,
    ``n_drawn`` and ``denominator``. Categories are the characteristics, in first-seen order.
    """
    images: dict[str, dict[str, Any]] = {}
    categories: dict[str, int] = {}
    annotations: list[dict[str, Any]] = []
    for image, characteristic, fz in fused:
        if image not in images:
            images[image] = {
                "id": len(images) + 1, "name": image,
                "file_name": (file_names or {}).get(image, image),
                "height": fz.size[0], "width": fz.size[1],
            }
        cat = categories.setdefault(characteristic, len(categories) + 1)
        for j, (t, lv) in enumerate(zip(fz.thresholds, fz.levels, strict=True)):
            annotations.append({
                "id": len(annotations) + 1, "image_id": images[image]["id"], "category_id": cat,
                "iscrowd": 1, "segmentation": dict(lv), "area": rle_area(lv),
                "bbox": rle_bbox(lv),
                "level": j, "threshold": t, "value": fz.value_of_level(j), "rule": fz.rule,
                "n_counting": fz.n_counting, "n_drawn": fz.n_drawn, "denominator": fz.denominator,
            })
    return {
        "info": {"description": "dermx-bench fused consensus maps as nested level sets",
                 "format": "value(x) = #{levels containing x} / denominator"},
        "images": list(images.values()),
        "categories": [{"id": i, "name": n} for n, i in categories.items()],
        "annotations": annotations,
    }
