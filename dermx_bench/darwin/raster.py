"""Rasterise Darwin areas exactly as specified (METHODS.md §2), and diagnose their geometry.

Coordinates: rings are (x, y) in image pixels (Darwin/shapely convention); masks
are ``uint8`` arrays indexed (row, col) = (y, x), values 0/1; the pixel (row r, col c)
has its centre at (x, y) = (c, r). Sizes are passed as ``height, width``, as numpy does.

Work happens in a *crop*: the smallest box holding the rounded vertices. Integer
translation does not change a rasterisation, so a crop filled with ``upolygon`` and
placed at its offset equals the full-image fill pixel for pixel, at a fraction of the
memory.

Two conventions for polygons with vertices outside the image (:class:`MaskConvention`):

* ``clamp`` (**default**, what the store holds unless told otherwise): clamp each vertex
  to the image, round, fill. This is V7's own ``upolygon``/``convert_polygons_to_mask``
  rasterisation, and the published DermX masks follow it (3263 of 3263).
* ``clip``: round the vertices as drawn, fill on a canvas large enough to hold the whole
  polygon, keep the part inside the image: the polygon as drawn, cut at the image
  border (the enlarged-canvas rule of darwin-py's semantic-mask exporter). Inside the
  image both agree; they differ only near the border of polygons that leave it.

Ellipses are never clamped: a pixel is in an ellipse when its centre lies inside or on
the rotated ellipse (see :func:`rasterise_ellipse`); the area so drawn is within one
pixel ring of the analytic area pi * rx * ry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import upolygon

from dermx_bench.darwin.conventions import MaskConvention
from dermx_bench.darwin.records import Annotation, Ellipse, Ring, Shape
from dermx_bench.masks.crop import Crop

#: A ``clip`` canvas may hold at most this many times the image's pixels.
MAX_CANVAS_FACTOR = 16


class CanvasTooLarge(ValueError):
    """A ``clip`` polygon reaches so far outside the image that its canvas would be huge."""


def empty(height: int, width: int) -> Crop:
    """A crop holding no pixel of a (height, width) image."""
    return Crop(np.zeros((0, 0), np.uint8), 0, 0, (height, width))


def snap(ring: Ring, height: int, width: int, *, clamp: bool = True) -> np.ndarray:
    """Clamp a ring to the image (unless ``clamp`` is false) and round it (half to even,
    like Python's ``round``). Returns int64 array (n, 2) of (x, y)."""
    pts = np.array(ring, dtype=np.float64).reshape(-1, 2)
    if clamp:
        pts[:, 0] = np.clip(pts[:, 0], 0, width - 1)
        pts[:, 1] = np.clip(pts[:, 1], 0, height - 1)
    return np.round(pts).astype(np.int64)  # np.round rounds half to even, as round() does


def rasterise(
    rings: Sequence[Ring], height: int, width: int, convention: MaskConvention = MaskConvention.CLAMP
) -> Crop:
    """Even-odd fill of all ``rings`` together, outlines included, as one crop.

    An annotation with no rings, or (``clip``) wholly outside the image, gives an empty
    crop. Raises :class:`CanvasTooLarge` when a ``clip`` canvas would exceed
    ``MAX_CANVAS_FACTOR`` times the image.
    """
    clamp = MaskConvention(convention) is MaskConvention.CLAMP
    snapped = [snap(r, height, width, clamp=clamp) for r in rings]
    if not snapped:
        return empty(height, width)
    allpts = np.concatenate(snapped)
    x0, y0 = (int(v) for v in allpts.min(axis=0))
    x1, y1 = (int(v) for v in allpts.max(axis=0))
    h, w = y1 - y0 + 1, x1 - x0 + 1
    if not clamp:
        if x1 < 0 or y1 < 0 or x0 >= width or y0 >= height:
            return empty(height, width)
        if h * w > MAX_CANVAS_FACTOR * height * width:
            raise CanvasTooLarge(f"the polygon spans {w}x{h} pixels, more than {MAX_CANVAS_FACTOR} times the "
                                 f"{width}x{height} image; use the clamp convention")
    mask = np.zeros((h, w), dtype=np.uint8)
    upolygon.draw_polygon(mask, [(s - (x0, y0)).ravel().tolist() for s in snapped], 1)
    if clamp:
        return Crop(mask, y0, x0, (height, width))
    r0, c0 = max(y0, 0), max(x0, 0)
    inside = mask[r0 - y0 : min(y1, height - 1) - y0 + 1, c0 - x0 : min(x1, width - 1) - x0 + 1]
    return Crop(np.ascontiguousarray(inside), r0, c0, (height, width))


def ellipse_extent(e: Ellipse) -> tuple[float, float]:
    """Half-width and half-height of the rotated ellipse's axis-aligned bounding box."""
    c, s = math.cos(e.angle), math.sin(e.angle)
    return math.hypot(e.rx * c, e.ry * s), math.hypot(e.rx * s, e.ry * c)


def rasterise_ellipse(e: Ellipse, height: int, width: int) -> Crop:
    """The pixels of an ellipse in a (height, width) image, as a crop.

    Pixel (row r, col c) is in when its centre (x, y) = (c, r) satisfies
    ``(u * ry)**2 + (v * rx)**2 <= (rx * ry)**2`` (to 1e-9 relative), where
    ``u = (x - cx) cos(angle) + (y - cy) sin(angle)`` and
    ``v = -(x - cx) sin(angle) + (y - cy) cos(angle)``; the pixel nearest the centre
    (rounded half to even) is always in, so a tiny ellipse is never empty. Parts outside
    the image are cut off. A zero radius leaves the pixels on the segment.
    """
    hx, hy = ellipse_extent(e)

    def inside(v: float, n: int) -> float:  # keeps floor/ceil finite for huge (or infinite) extents
        return min(max(v, -1.0), float(n))

    x0, x1 = max(math.floor(inside(e.cx - hx, width)), 0), min(math.ceil(inside(e.cx + hx, width)), width - 1)
    y0, y1 = max(math.floor(inside(e.cy - hy, height)), 0), min(math.ceil(inside(e.cy + hy, height)), height - 1)
    if x0 > x1 or y0 > y1:
        return empty(height, width)
    dx = np.arange(x0, x1 + 1, dtype=np.float64) - e.cx
    dy = np.arange(y0, y1 + 1, dtype=np.float64)[:, None] - e.cy
    c, s = math.cos(e.angle), math.sin(e.angle)
    u = dx * c + dy * s
    v = dy * c - dx * s
    with np.errstate(over="ignore"):  # huge radii: both sides are inf, every pixel is in
        lhs = (u * e.ry) ** 2 + (v * e.rx) ** 2
        mask = (lhs <= np.float64(e.rx * e.ry) ** 2 * (1 + 1e-9)).astype(np.uint8)
    col, row = round(e.cx), round(e.cy)
    if x0 <= col <= x1 and y0 <= row <= y1:
        mask[row - y0, col - x0] = 1
    return Crop(mask, y0, x0, (height, width))


def rasterise_annotation(
    a: Annotation, height: int, width: int, convention: MaskConvention = MaskConvention.CLAMP
) -> Crop:
    """The pixels of one area annotation: polygon or box rings, ellipse, or brush mask."""
    if a.shape is Shape.ELLIPSE and a.ellipse is not None:
        return rasterise_ellipse(a.ellipse, height, width)
    if a.shape is Shape.MASK:
        return a.pixels if a.pixels is not None else empty(height, width)
    return rasterise(a.rings, height, width, convention)


def ellipse_issues(e: Ellipse, height: int, width: int) -> list[str]:
    """``outside-image`` (the ellipse reaches beyond the image; cut off) and ``zero-area``."""
    hx, hy = ellipse_extent(e)
    out = []
    if e.cx - hx < 0 or e.cy - hy < 0 or e.cx + hx > width - 1 or e.cy + hy > height - 1:
        out.append("outside-image")
    if e.rx == 0 or e.ry == 0:
        out.append("zero-area")
    return out


def geometry_issues(rings: Sequence[Ring], height: int, width: int) -> list[list[str]]:
    """Diagnose rings for the ingest report (vectorised with shapely); never changes them.

    Returns, for each ring, its issues among ``outside-image`` (a vertex beyond the
    image, clamped or clipped when rasterised), ``zero-area``, ``self-intersection``,
    ``duplicate-vertices`` and ``invalid: <reason>``.
    """
    import shapely

    out: list[list[str]] = [[] for _ in rings]
    if not rings:
        return out
    lengths = np.array([len(r) for r in rings])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pts = np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings])
    outside = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] > width - 1) | (pts[:, 1] > height - 1)
    repeat = np.zeros(len(pts), dtype=bool)
    repeat[1:] = (pts[1:] == pts[:-1]).all(axis=1)
    repeat[starts] = False
    outside_any = np.logical_or.reduceat(outside, starts)
    repeat_any = np.logical_or.reduceat(repeat, starts)
    distinct = lengths - np.add.reduceat(repeat.astype(np.int64), starts)
    closes = np.array([bool((np.asarray(r[0]) == np.asarray(r[-1])).all()) for r in rings])
    usable = (distinct - closes) >= 3
    idx = np.flatnonzero(usable)
    areas = np.zeros(len(rings))
    reasons = ["Valid Geometry"] * len(rings)
    if idx.size:
        sel_pts = np.concatenate([np.asarray(rings[int(i)], dtype=np.float64).reshape(-1, 2) for i in idx])
        polys = shapely.polygons(shapely.linearrings(sel_pts, indices=np.repeat(np.arange(idx.size), lengths[idx])))
        with np.errstate(all="ignore"):  # absurd coordinates (1e300) overflow; they are diagnosed all the same
            valid = shapely.is_valid(polys)
            areas[idx] = shapely.area(polys)
            bad = np.flatnonzero(~valid)
            if bad.size:  # an invalid ring's signed parts can cancel (a bowtie has area 0): measure its valid form
                areas[idx[bad]] = shapely.area(shapely.make_valid(polys[bad]))
                for k, reason in zip(idx[bad], shapely.is_valid_reason(polys[bad]), strict=True):
                    reasons[k] = str(reason)
    for i in range(len(rings)):
        if outside_any[i]:
            out[i].append("outside-image")
        if not usable[i] or areas[i] == 0:
            out[i].append("zero-area")
        elif "Self-intersection" in reasons[i]:
            out[i].append("self-intersection")
        elif reasons[i] != "Valid Geometry":
            out[i].append("invalid: " + reasons[i].split("[")[0].strip())
        if repeat_any[i]:
            out[i].append("duplicate-vertices")
    return out
