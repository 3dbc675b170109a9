"""Named conventions of the darwin stage that later stages record (kept free of heavy imports)."""

from __future__ import annotations

from enum import StrEnum


class MaskConvention(StrEnum):
    """How a polygon with vertices outside the image is drawn (see :mod:`dermx_bench.darwin.raster`).

    ``clamp`` (default): clamp the vertices to the image, then fill (V7's ``upolygon``
    rasterisation; the published DermX masks). ``clip``: fill the polygon as drawn on an
    enlarged canvas and keep the part inside the image (darwin-py's semantic-mask exporter).
    """

    CLAMP = "clamp"
    CLIP = "clip"
