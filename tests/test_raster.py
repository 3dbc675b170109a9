"""Rasterisation is V7's, pixel for pixel (METHODS §2), ellipses and the clip convention, and RLE round-trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
import skimage.draw
import upolygon
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.darwin import raster
from dermx_bench.darwin.conventions import MaskConvention
from dermx_bench.darwin.records import Ellipse
from dermx_bench.masks import rle
from dermx_bench.masks.crop import Crop
from dermx_bench.masks.crop import union as crop_union


def ring(*xy: float) -> np.ndarray:
    return np.array(xy, dtype=float).reshape(-1, 2)


def count(rings: list[np.ndarray], h: int, w: int) -> int:
    crop = raster.rasterise(rings, h, w)
    full = crop.full()
    assert full.shape == (h, w)
    return int(full.sum())


def test_square_outline_and_interior() -> None:
    assert count([ring(1, 1, 10, 1, 10, 10, 1, 10)], 12, 12) == 100


def test_hole_is_even_odd() -> None:
    outer = ring(1, 1, 10, 1, 10, 10, 1, 10)
    hole = ring(3, 3, 8, 3, 8, 8, 3, 8)
    # the hole's outline is drawn, its 4x4 interior is empty
    assert count([outer, hole], 12, 12) == 100 - 16


def test_overlapping_rings_cancel_where_they_overlap() -> None:
    a = ring(0, 0, 4, 0, 4, 4, 0, 4)
    b = ring(2, 2, 6, 2, 6, 6, 2, 6)
    full = raster.rasterise([a, b], 8, 8).full()
    # union is 41 pixels; (3, 3) lies inside both and on neither outline, so it cancels
    assert full.sum() == 40
    assert full[3, 3] == 0


def test_separate_annotations_union() -> None:
    a = raster.rasterise([ring(0, 0, 4, 0, 4, 4, 0, 4)], 8, 8)
    b = raster.rasterise([ring(2, 2, 6, 2, 6, 6, 2, 6)], 8, 8)
    assert crop_union([a, b]).full().sum() == 41


def test_vertices_outside_are_clamped() -> None:
    assert count([ring(-5, -5, 4, -5, 4, 4, -5, 4)], 10, 10) == 25
    assert count([ring(5, 5, 50, 5, 50, 50, 5, 50)], 10, 10) == 25


def test_rounding_is_half_to_even() -> None:
    # 0.5 -> 0, 3.5 -> 4 (Python's round), so this is the 5x5 square (0,0)-(4,4)
    assert count([ring(0.5, 0.5, 3.5, 0.5, 3.5, 3.5, 0.5, 3.5)], 10, 10) == 25
    # 2.5 -> 2: the square (0,0)-(2,2)
    assert count([ring(0, 0, 2.5, 0, 2.5, 2.5, 0, 2.5)], 10, 10) == 9


def test_triangle() -> None:
    assert count([ring(1, 1, 8, 1, 1, 8)], 10, 10) == 36


def test_degenerate_ring_draws_its_outline() -> None:
    assert count([ring(1, 1, 5, 1, 3, 1)], 10, 10) == 5


rings_strategy = st.lists(
    st.lists(st.tuples(st.floats(-10, 40), st.floats(-10, 30)), min_size=3, max_size=8),
    min_size=1, max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(rings=rings_strategy, w=st.integers(1, 32), h=st.integers(1, 24))
def test_crop_equals_full_image_upolygon(rings: list[list[tuple[float, float]]], w: int, h: int) -> None:
    arrays = [np.array(r) for r in rings]
    ref = np.zeros((h, w), dtype=np.uint8)
    paths = []
    for r in arrays:
        x = np.clip(r[:, 0], 0, w - 1)
        y = np.clip(r[:, 1], 0, h - 1)
        paths.append([int(round(float(v))) for pair in zip(x, y, strict=True) for v in pair])
    upolygon.draw_polygon(ref, paths, 1)
    crop = raster.rasterise(arrays, h, w)
    assert np.array_equal(crop.full(), ref)
    assert rle.encode_crop(crop) == rle.encode(ref)


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 20), w=st.integers(1, 20), density=st.floats(0, 1), seed=st.integers(0, 2**32 - 1),
)
def test_mask_rle_mask_round_trip(h: int, w: int, density: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = (rng.random((h, w)) < density).astype(np.uint8)
    enc = rle.encode(mask)
    assert isinstance(enc["counts"], str)
    assert np.array_equal(rle.decode(enc), mask)
    assert rle.area(enc) == mask.sum()
    r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    sub = mask[r0:, c0:]
    crop = Crop(sub, r0, c0, (h, w))
    assert rle.encode_crop(crop) == rle.encode(crop.full())


def test_geometry_issues() -> None:
    issues = raster.geometry_issues(
        [ring(0, 0, 4, 0, 0, 4, 4, 4), ring(-1, 0, 4, 0, 4, 4), ring(1, 1, 2, 2, 3, 3), ring(1, 1, 1, 1, 5, 1, 5, 5)],
        10, 10,
    )
    assert issues[0] == ["self-intersection"]
    assert issues[1] == ["outside-image"]
    assert issues[2] == ["zero-area"]
    assert "duplicate-vertices" in issues[3]


def test_snap_takes_height_then_width() -> None:
    assert raster.snap(ring(-3, -3, 50, 2.5, 3.5, 50), 5, 10).tolist() == [[0, 0], [9, 2], [4, 4]]


# -- ellipses: pixel centres inside the rotated ellipse ------------------------------------------

def ellipse_mask(cx: float, cy: float, rx: float, ry: float, angle: float, h: int, w: int) -> np.ndarray:
    return raster.rasterise_ellipse(Ellipse(cx, cy, rx, ry, angle), h, w).full()


@pytest.mark.parametrize(("cx", "cy", "rx", "ry", "angle"), [
    (30.2, 25.7, 17.3, 9.6, 0.0), (30.2, 25.7, 17.3, 9.6, 0.5), (30.2, 25.7, 17.3, 9.6, -1.1),
    (40.5, 30.5, 12.25, 5.5, 2.0), (5.3, 4.1, 20.7, 13.2, 0.3),  # the last one leaves the image
])
def test_ellipse_equals_skimage_draw_ellipse(cx: float, cy: float, rx: float, ry: float, angle: float) -> None:
    # skimage takes (row, col) = (y, x) and turns the other way round on (row, col) axes
    ref = np.zeros((60, 80), np.uint8)
    rr, cc = skimage.draw.ellipse(cy, cx, ry, rx, shape=(60, 80), rotation=-angle)
    ref[rr, cc] = 1
    assert np.array_equal(ellipse_mask(cx, cy, rx, ry, angle, 60, 80), ref)


@settings(max_examples=100, deadline=None)
@given(rx=st.floats(0.5, 30), ry=st.floats(0.5, 30), angle=st.floats(-math.pi, math.pi),
       fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_ellipse_area_within_one_pixel_ring(rx: float, ry: float, angle: float, fx: float, fy: float) -> None:
    cx, cy = 35 + fx, 35 + fy
    n = int(ellipse_mask(cx, cy, rx, ry, angle, 72, 72).sum())
    assert math.pi * (rx - 1) * (ry - 1) <= n <= math.pi * (rx + 1) * (ry + 1)


def test_ellipse_quarter_turn_swaps_radii_and_tiny_one_keeps_its_centre() -> None:
    a = ellipse_mask(20.3, 15.6, 9.2, 4.1, math.pi / 2, 40, 40)
    b = ellipse_mask(20.3, 15.6, 4.1, 9.2, 0.0, 40, 40)
    assert np.array_equal(a, b)
    tiny = ellipse_mask(3.4, 2.6, 0.2, 0.1, 0.0, 8, 8)
    assert tiny.sum() == 1 and tiny[3, 3] == 1
    assert raster.rasterise_ellipse(Ellipse(-20, -20, 3, 3), 8, 8).mask.size == 0


# -- the two conventions for polygons leaving the image ------------------------------------------

def test_clip_convention_is_the_polygon_as_drawn_cut_at_the_border() -> None:
    tri = ring(-6.4, 2, 9, -7.5, 8, 11.2)
    h, w = 10, 12
    big = np.zeros((h + 40, w + 40), np.uint8)  # the whole polygon on a canvas shifted by 20 px
    upolygon.draw_polygon(big, [[round(v + 20) for v in tri.ravel().tolist()]], 1)
    ref = big[20 : 20 + h, 20 : 20 + w]
    clip = raster.rasterise([tri], h, w, MaskConvention.CLIP)
    assert np.array_equal(clip.full(), ref)
    clamp = raster.rasterise([tri], h, w).full()
    assert not np.array_equal(clamp, ref)
    inside = ring(1, 1, 9, 2, 5, 8)
    assert np.array_equal(raster.rasterise([inside], h, w, MaskConvention.CLIP).full(),
                          raster.rasterise([inside], h, w).full())
    assert raster.rasterise([ring(20, 20, 30, 20, 25, 30)], h, w, MaskConvention.CLIP).mask.size == 0
    with pytest.raises(raster.CanvasTooLarge, match="more than 16 times"):
        raster.rasterise([ring(0, 0, 5000, 0, 0, 5000)], h, w, MaskConvention.CLIP)
