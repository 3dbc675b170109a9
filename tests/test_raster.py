"""Rasterisation is V7's, pixel for pixel (METHODS §2), and RLE round-trips."""

from __future__ import annotations

import numpy as np
import upolygon
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.darwin import raster
from dermx_bench.masks import rle
from dermx_bench.masks.crop import Crop
from dermx_bench.masks.crop import union as crop_union


def ring(*xy: float) -> np.ndarray:
    return np.array(xy, dtype=float).reshape(-1, 2)


def count(rings: list[np.ndarray], w: int, h: int) -> int:
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
