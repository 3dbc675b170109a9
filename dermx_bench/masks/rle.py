"""COCO run-length encoding of binary masks, with a fast path for crops.

An RLE here is the COCO dict ``{"size": [height, width], "counts": str}`` (compressed
counts, column-major runs starting with a run of zeros), exactly what
``pycocotools.mask.encode`` returns for ``np.asfortranarray(mask)`` with ``counts``
decoded to ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as cocomask

from dermx_bench.masks.crop import Crop

RLE = dict[str, Any]
"""A binary mask of an image of (height, width) pixels: ``{"size": [height, width], "counts": str}``.

``counts`` is COCO's compressed string of run lengths over the pixels in column-major
(Fortran) order, i.e. down each column (row index fastest, pixel ``(row, col)`` at
``col * height + row``), starting with a run of zeros (possibly empty). Decode with
:func:`decode` to a uint8 (height, width) array of 0/1, or with :func:`runs` to the
run lengths.
"""


def encode(mask: np.ndarray) -> RLE:
    """Encode a full-resolution uint8/bool (height, width) mask."""
    rle = cocomask.encode(np.asfortranarray(mask, dtype=np.uint8))
    return _to_str(rle)


def _to_str(rle: dict[str, Any]) -> RLE:
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def to_coco(rle: RLE) -> dict[str, Any]:
    """The RLE as pycocotools takes it (``counts`` as bytes)."""
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def runs_of_crop(crop: Crop) -> list[int]:
    """Uncompressed column-major COCO counts of a crop placed in its full image.

    Costs O(crop area), with no transposed copy: run boundaries are the vertical
    changes inside the crop plus the crop's top and bottom edges, placed at their
    column-major positions in the full image and sorted. A run that ends at the
    bottom of one column and goes on at the top of the next gives two equal
    boundaries, which cancel.
    """
    height, width = crop.shape
    m = crop.mask
    h, w = m.shape
    if h == 0 or w == 0:
        return [height * width]
    k = np.flatnonzero(m[1:] != m[:-1])
    rows, cols = np.divmod(k, w)
    base = crop.col0 * height + crop.row0
    pos = np.concatenate((
        cols * height + rows + 1,  # a change between rows r and r + 1 starts a run at r + 1
        np.flatnonzero(m[0]) * height,  # runs of ones starting at the crop's top
        np.flatnonzero(m[-1]) * height + h,  # runs of ones ending at the crop's bottom
    )) + base
    if pos.size == 0:
        return [height * width]
    pos.sort()
    keep = np.ones(pos.size, dtype=bool)
    dup = np.flatnonzero(pos[1:] == pos[:-1])
    keep[dup] = False
    keep[dup + 1] = False
    pos = pos[keep & (pos < height * width)]
    return np.diff(np.concatenate(([0], pos, [height * width]))).tolist()


def encode_crop(crop: Crop) -> RLE:
    """Encode a crop as the RLE of its full image; equals ``encode(crop.full())``."""
    return encode_runs(runs_of_crop(crop), crop.shape)


def encode_runs(runs: list[int], shape: tuple[int, int]) -> RLE:
    """Compress uncompressed column-major counts of an image of ``shape`` (height, width)."""
    height, width = shape
    return _to_str(cocomask.frPyObjects({"size": [height, width], "counts": runs}, height, width))


def decode(rle: RLE) -> np.ndarray:
    """Decode to a uint8 (height, width) array of 0/1."""
    return np.ascontiguousarray(cocomask.decode(to_coco(rle)))


def area(rle: RLE) -> int:
    return int(cocomask.area(to_coco(rle)))


def bbox(rle: RLE) -> list[float]:
    """COCO bbox [x, y, w, h] of the mask."""
    return [float(v) for v in cocomask.toBbox(to_coco(rle))]


def merge(rles: Sequence[RLE], intersect: bool = False) -> RLE:
    """Union (or intersection) of RLEs of the same size."""
    return _to_str(cocomask.merge([to_coco(r) for r in rles], intersect=intersect))


def intersection_area(a: RLE, b: RLE) -> int:
    return area(merge([a, b], intersect=True))


def empty(height: int, width: int) -> RLE:
    return encode(np.zeros((height, width), dtype=np.uint8))


def runs(rle: RLE) -> np.ndarray:
    """Uncompressed COCO counts of an RLE as int64 (runs of 0, 1, 0, ... in column-major order).

    Decodes the LEB128-like compressed ``counts`` string (as pycocotools' ``rleFrString``)
    with vectorised numpy; a ``counts`` that is already a list is returned as an array.
    """
    counts = rle["counts"]
    if isinstance(counts, list | tuple | np.ndarray):
        return np.asarray(counts, dtype=np.int64)
    raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    if not raw:
        return np.zeros(0, dtype=np.int64)
    v = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    last = (v & 0x20) == 0  # chunk ends a value
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    group = np.cumsum(np.concatenate(([0], last[:-1].astype(np.int64))))
    k = np.arange(v.size, dtype=np.int64) - starts[group]
    vals = np.add.reduceat((v & 0x1F) << (5 * k), starts)
    # sign extension of the last chunk: x |= -1 << 5 * (k + 1)
    neg = (v[ends] & 0x10) != 0
    vals = vals - np.where(neg, np.left_shift(np.int64(1), 5 * (k[ends] + 1)), 0)
    # delta coding: counts[i] += counts[i - 2] for i > 2
    if vals.size > 3:
        vals[3::2] = np.cumsum(vals[1::2])[1:]
        if vals.size > 4:
            vals[2::2] = np.cumsum(vals[2::2])
    return vals
