"""A binary mask held as a crop placed in its full image (saves memory for small annotations).

Coordinates are (row, col) = (y, x); the full image is (height, width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Crop:
    """A binary mask placed in an image: ``mask[r, c]`` is pixel (row0 + r, col0 + c).

    ``mask``: uint8 array (h, w) of 0/1. ``shape``: the full image (height, width).
    """

    mask: np.ndarray
    row0: int
    col0: int
    shape: tuple[int, int]

    def full(self) -> np.ndarray:
        """The mask at full resolution, uint8 (height, width)."""
        out = np.zeros(self.shape, dtype=np.uint8)
        h, w = self.mask.shape
        out[self.row0 : self.row0 + h, self.col0 : self.col0 + w] = self.mask
        return out


def union(crops: Sequence[Crop]) -> Crop:
    """Pixel-wise union of crops of the same image."""
    crops = [c for c in crops if c.mask.size]
    if not crops:
        raise ValueError("union of no crops")
    if len(crops) == 1:
        return crops[0]
    r0 = min(c.row0 for c in crops)
    c0 = min(c.col0 for c in crops)
    r1 = max(c.row0 + c.mask.shape[0] for c in crops)
    c1 = max(c.col0 + c.mask.shape[1] for c in crops)
    out = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
    for c in crops:
        h, w = c.mask.shape
        view = out[c.row0 - r0 : c.row0 - r0 + h, c.col0 - c0 : c.col0 - c0 + w]
        np.maximum(view, c.mask, out=view)
    return Crop(out, r0, c0, crops[0].shape)
