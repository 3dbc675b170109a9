"""V7 brush masks: decode an item's ``raster_layer`` exactly into per-annotation pixels.

A JSON 2.0 item whose rater painted with the brush holds, per slot, one
``raster_layer`` annotation::

    "raster_layer": {"dense_rle": [v0, n0, v1, n1, ...],
                     "mask_annotation_ids_mapping": {"<mask annotation id>": v, ...},
                     "total_pixels": H * W}

``dense_rle`` is (value, count) pairs over the slot's pixels in row-major order (row 0
left to right, then row 1, ...); the counts add up to ``total_pixels``. Each ``mask``
annotation is the set of pixels whose value is the one its id maps to; value 0 is
background. Nothing is approximated: the pixels are the ones V7 stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dermx_bench.darwin.fields import Fields
from dermx_bench.masks.crop import Crop


@dataclass(frozen=True)
class RasterLayer:
    """A parsed ``raster_layer``: ``labels`` uint8/uint16/uint32 (height, width), ``mapping`` id -> value."""

    index: int
    slot: str
    labels: np.ndarray
    mapping: dict[str, int]

    def pixels_of(self, mask_id: str) -> Crop | None:
        """The pixels of one mask annotation as a crop, or None when it has none."""
        value = self.mapping.get(mask_id)
        if value is None:
            return None
        return crop_of(self.labels == value)

    def unclaimed(self, mask_ids: set[str]) -> int:
        """Count of non-zero pixels whose value belongs to none of ``mask_ids``."""
        claimed = [v for k, v in self.mapping.items() if k in mask_ids]
        return int(np.count_nonzero((self.labels != 0) & ~np.isin(self.labels, claimed)))


def crop_of(mask: np.ndarray) -> Crop | None:
    """The bounding-box crop of a boolean (height, width) mask, or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return Crop(mask[r0:r1, c0:c1].astype(np.uint8), r0, c0, (int(mask.shape[0]), int(mask.shape[1])))


def decode_dense_rle(f: Fields, data: Any, where: str, height: int, width: int) -> tuple[np.ndarray, dict[str, int]]:
    """Check and decode a ``raster_layer`` object on a (height, width) slot.

    Returns the label image (row-major, unsigned, (height, width)) and the id -> value
    mapping. Raises a located :class:`InputError` on anything that does not add up.
    """
    layer = f.obj(data, where)
    total = layer.get("total_pixels")
    if total is not None and (isinstance(total, bool) or total != height * width):
        raise f.fail(f"{where}.total_pixels", f"expected {height * width} (the slot's {height}x{width} pixels), "
                                              f"got {total!r}")
    mapping_raw = f.obj(layer.get("mask_annotation_ids_mapping"), f"{where}.mask_annotation_ids_mapping")
    mapping: dict[str, int] = {}
    for k, v in mapping_raw.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**32:
            raise f.fail(f"{where}.mask_annotation_ids_mapping.{k}",
                         f"expected a positive integer below 2**32, got {v!r}")
        mapping[str(k)] = v
    dense = f.lst(layer.get("dense_rle"), f"{where}.dense_rle")
    if len(dense) % 2:
        raise f.fail(f"{where}.dense_rle", f"expected (value, count) pairs, got an odd length {len(dense)}")
    if not all(type(v) is int for v in dense):
        bad = next(i for i, v in enumerate(dense) if type(v) is not int)
        raise f.fail(f"{where}.dense_rle[{bad}]", f"expected an integer, got {dense[bad]!r}")
    if not all(0 <= v <= height * width for v in dense[1::2]):
        bad = next(i for i, v in enumerate(dense[1::2]) if not 0 <= v <= height * width)
        raise f.fail(f"{where}.dense_rle[{2 * bad + 1}]", f"expected a count in 0..{height * width} (the slot's "
                                                          f"pixels), got {dense[2 * bad + 1]!r}")
    if not all(0 <= v < 2**32 for v in dense[::2]):
        bad = next(i for i, v in enumerate(dense[::2]) if not 0 <= v < 2**32)
        raise f.fail(f"{where}.dense_rle[{2 * bad}]", f"expected a value in 0..2**32-1, got {dense[2 * bad]!r}")
    total = sum(dense[1::2])
    if total != height * width:
        raise f.fail(f"{where}.dense_rle", f"expected counts adding up to {height * width} (the slot's "
                                           f"{height}x{width} pixels), got {total}")
    pairs = np.asarray(dense, dtype=np.int64).reshape(-1, 2)
    values, counts = pairs[:, 0], pairs[:, 1]
    top = int(values.max()) if values.size else 0
    dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32
    labels = np.repeat(values.astype(dtype), counts).reshape(height, width)
    return labels, mapping
