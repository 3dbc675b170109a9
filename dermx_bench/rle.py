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

from dermx_bench.raster import Crop

RLE = dict[str, Any]


def encode(mask: np.ndarray) -> RLE:
    """Encode a full-resolution uint8/bool (height, width) mask."""
    rle = cocomask.encode(np.asfortranarray(mask, dtype=np.uint8))
    return _to_str(rle)


def _to_str(rle: dict[str, Any]) -> RLE:
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def _to_coco(rle: RLE) -> dict[str, Any]:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def runs_of_crop(crop: Crop) -> list[int]:
    """Uncompressed column-major COCO counts of a crop placed in its full image.

    Costs O(height x crop width) rather than O(height x width): only the columns
    the crop spans are laid out.
    """
    height, width = crop.shape
    h, w = crop.mask.shape
    if h == 0 or w == 0 or not crop.mask.any():
        return [height * width]
    strip = np.zeros((height, w), dtype=np.uint8)
    strip[crop.row0 : crop.row0 + h] = crop.mask
    flat = strip.ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    runs[0] += crop.col0 * height
    tail = (width - crop.col0 - w) * height
    if len(runs) % 2 == 0:  # ends with a run of ones
        runs.append(tail)
    else:
        runs[-1] += tail
    return runs


def encode_crop(crop: Crop) -> RLE:
    """Encode a crop as the RLE of its full image; equals ``encode(crop.full())``."""
    height, width = crop.shape
    rle = cocomask.frPyObjects({"size": [height, width], "counts": runs_of_crop(crop)}, height, width)
    return _to_str(rle)


def decode(rle: RLE) -> np.ndarray:
    """Decode to a uint8 (height, width) array of 0/1."""
    return np.ascontiguousarray(cocomask.decode(_to_coco(rle)))


def area(rle: RLE) -> int:
    return int(cocomask.area(_to_coco(rle)))


def bbox(rle: RLE) -> list[float]:
    """COCO bbox [x, y, w, h] of the mask."""
    return [float(v) for v in cocomask.toBbox(_to_coco(rle))]


def merge(rles: Sequence[RLE], intersect: bool = False) -> RLE:
    """Union (or intersection) of RLEs of the same size."""
    return _to_str(cocomask.merge([_to_coco(r) for r in rles], intersect=intersect))


def intersection_area(a: RLE, b: RLE) -> int:
    return area(merge([a, b], intersect=True))


def empty(height: int, width: int) -> RLE:
    return encode(np.zeros((height, width), dtype=np.uint8))
