"""Rasterise Darwin rings exactly as V7 does (METHODS.md §2), and diagnose their geometry.

Coordinates: rings are (x, y) in image pixels (Darwin/shapely convention); masks
are ``uint8`` arrays indexed (row, col) = (y, x), values 0/1.

Work happens in a *crop*: the smallest box holding the clamped, rounded vertices.
Integer translation does not change a rasterisation, so a crop filled with
``upolygon`` and placed at its offset equals the full-image fill pixel for pixel,
at a fraction of the memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import upolygon

from dermx_bench.darwin.reader import Ring
from dermx_bench.masks.crop import Crop


def snap(ring: Ring, width: int, height: int) -> np.ndarray:
    """Clamp a ring to the image and round it (half to even, like Python's ``round``).

    Returns int64 array (n, 2) of (x, y).
    """
    pts = np.array(ring, dtype=np.float64).reshape(-1, 2)
    pts[:, 0] = np.clip(pts[:, 0], 0, width - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, height - 1)
    return np.round(pts).astype(np.int64)  # np.round rounds half to even, as round() does


def rasterise(rings: Sequence[Ring], width: int, height: int) -> Crop:
    """Even-odd fill of all ``rings`` together, outlines included, as one crop.

    An annotation with no rings gives an empty crop.
    """
    snapped = [snap(r, width, height) for r in rings]
    if not snapped:
        return Crop(np.zeros((0, 0), np.uint8), 0, 0, (height, width))
    allpts = np.concatenate(snapped)
    x0, y0 = allpts.min(axis=0)
    x1, y1 = allpts.max(axis=0)
    mask = np.zeros((int(y1 - y0 + 1), int(x1 - x0 + 1)), dtype=np.uint8)
    paths = [(s - (x0, y0)).ravel().tolist() for s in snapped]
    upolygon.draw_polygon(mask, paths, 1)
    return Crop(mask, int(y0), int(x0), (height, width))


def geometry_issues(rings: Sequence[Ring], width: int, height: int) -> list[list[str]]:
    """Diagnose rings for the ingest report (vectorised with shapely); never changes them.

    Returns, for each ring, its issues among ``outside-image`` (a vertex beyond the
    image, clamped when rasterised), ``zero-area``, ``self-intersection``,
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
