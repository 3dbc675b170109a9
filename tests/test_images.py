"""Photographs: matching, checks, preprocessing and the inverse geometry of maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dermx_bench.core.errors import InputError
from dermx_bench.harness.images import (
    find_images,
    geometry,
    interpolation_matrix,
    load_photo,
    preprocess,
    upsample_map,
)


@dataclass(frozen=True)
class Info:
    name: str
    height: int
    width: int


def _save(path: Path, h: int, w: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def test_find_images_lists_every_problem(tmp_path: Path) -> None:
    _save(tmp_path / "good.jpeg", 30, 40)
    _save(tmp_path / "small.png", 30, 20)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    _save(tmp_path / "twice.jpg", 30, 40)
    _save(tmp_path / "twice.png", 30, 40)
    (tmp_path / "sub").mkdir()
    _save(tmp_path / "sub" / "nested.jpg", 30, 40)
    infos = [Info(n, 30, 40) for n in ("good", "small", "broken", "twice", "absent", "nested")]
    with pytest.raises(InputError) as err:
        find_images(tmp_path, infos)
    msg = str(err.value)
    assert "4 of 6 photograph(s) cannot be used" in msg and "--skip-missing" in msg
    for needle in ("small: wrong size: small.png is 20x30", "broken: unreadable", "twice: ambiguous",
                   "absent: missing"):
        assert needle in msg, msg
    found = find_images(tmp_path, infos, skip_missing=True)
    assert list(found.found) == ["good", "nested"]
    assert found.skipped == 4
    assert found.problem_counts() == {"wrong size": 1, "unreadable": 1, "ambiguous": 1, "missing": 1}
    with pytest.raises(InputError, match="no such folder"):
        find_images(tmp_path / "nope", infos)


def test_truncated_jpeg_is_unreadable(tmp_path: Path) -> None:
    _save(tmp_path / "t.jpg", 48, 64)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    found = find_images(tmp_path, [Info("t", 48, 64)], skip_missing=True)
    assert "unreadable" in found.problems["t"]


def test_geometry_boxes() -> None:
    assert geometry(100, 200, (50, 50), "stretch").box == (0.0, 0.0, 200.0, 100.0)
    g = geometry(100, 200, (50, 50), "shorter-side+center-crop")
    assert g.box == (50.0, 0.0, 150.0, 100.0)
    g = geometry(300, 400, (224, 224), "shorter-side+center-crop")
    assert g.box == pytest.approx((50.0, 0.0, 350.0, 300.0))
    with pytest.raises(ValueError):
        geometry(10, 10, (5, 5), "squash")


def test_preprocess_matches_plain_resize_and_crop(tmp_path: Path) -> None:
    _save(tmp_path / "p.png", 100, 200)
    photo = load_photo(tmp_path / "p.png")
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    x = preprocess(photo, geometry(100, 200, (40, 60), "stretch"), mean, std)
    ref = np.asarray(photo.resize((60, 40), Image.Resampling.BILINEAR), np.float32) / 255
    ref = ((ref - mean) / np.asarray(std)).transpose(2, 0, 1)
    assert x.shape == (3, 40, 60) and x.dtype == np.float32
    np.testing.assert_allclose(x, ref, atol=1e-5)
    # shorter side to 50 (the whole photo halved), then the central 50x50
    x = preprocess(photo, geometry(100, 200, (50, 50), "shorter-side+center-crop"), (0, 0, 0), (1, 1, 1))
    half = photo.resize((100, 50), Image.Resampling.BILINEAR)
    ref = np.asarray(half.crop((25, 0, 75, 50)), np.float32) / 255
    np.testing.assert_allclose(x, ref.transpose(2, 0, 1), atol=1e-5)


def test_upsample_matches_torch_bilinear_for_stretch() -> None:
    rng = np.random.default_rng(0)
    cam = rng.random((7, 9)).astype(np.float32)
    g = geometry(53, 71, (28, 36), "stretch")
    ours = upsample_map(cam, g)
    ref = torch.nn.functional.interpolate(torch.from_numpy(cam)[None, None], size=(53, 71),
                                          mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert ours.shape == (53, 71) and ours.dtype == np.float32


def test_upsample_undoes_crop() -> None:
    g = geometry(100, 200, (50, 50), "shorter-side+center-crop")
    out = upsample_map(np.ones((5, 5), np.float32), g)
    assert out[:, 50:150].min() == 1.0
    assert not out[:, :50].any() and not out[:, 150:].any()
    # a hot cell at the top-left of the map lands at the top-left of the box
    cam = np.zeros((5, 5), np.float32)
    cam[0, 0] = 1.0
    out = upsample_map(cam, g)
    r, c = np.unravel_index(out.argmax(), out.shape)
    assert r < 20 and 50 <= c < 70


def test_interpolation_matrix_rows() -> None:
    m = interpolation_matrix(10, 3, 2.0, 8.0)
    sums = m.sum(axis=1)
    np.testing.assert_allclose(sums[2:8], 1.0)
    assert not sums[:2].any() and not sums[8:].any()
    np.testing.assert_allclose(interpolation_matrix(4, 4, 0.0, 4.0), np.eye(4))
