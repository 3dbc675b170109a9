"""The shared progress helper (lines with done/total and ETA without a terminal) and fast synthetic photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.cli.common import LineProgress
from dermx_bench.synthetic.images import _smooth_noise


def test_line_progress_prints_done_total_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    now = {"t": 0.0}
    bar = LineProgress(10, "photos", every=5.0, clock=lambda: now["t"])
    for _ in range(4):  # 1 s each: quiet before 5 s
        now["t"] += 1.0
        bar.update(1)
    assert capsys.readouterr().err == ""
    now["t"] += 1.0
    bar.update(1)  # 5 of 10 after 5 s: ETA 5 s
    assert capsys.readouterr().err == "photos: 5/10 (50%) 0:05, ETA 0:05\n"
    now["t"] += 5.0
    bar.update(5)
    bar.close()
    assert capsys.readouterr().err.splitlines() == ["photos: 10/10 (100%) 0:10, ETA 0:00",
                                                    "photos: 10/10 (100%) 0:10, done"]


def test_line_progress_is_quiet_for_short_work(capsys: pytest.CaptureFixture[str]) -> None:
    with LineProgress(None, "x", every=5.0, clock=lambda: 0.0) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


@settings(max_examples=30, deadline=None)
@given(h=st.integers(2, 40), w=st.integers(2, 40), scale=st.floats(1.0, 30.0), data=st.data())
def test_noise_window_is_the_same_part_of_the_whole(h: int, w: int, scale: float, data: st.DataObject) -> None:
    r0 = data.draw(st.integers(0, h - 1))
    r1 = data.draw(st.integers(r0 + 1, h))
    c0 = data.draw(st.integers(0, w - 1))
    c1 = data.draw(st.integers(c0 + 1, w))
    whole = _smooth_noise(np.random.default_rng(5), h, w, scale)
    part = _smooth_noise(np.random.default_rng(5), h, w, scale, (r0, r1, c0, c1))
    assert np.array_equal(whole[r0:r1, c0:c1], part)


def _bilinear_reference(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """The four-corner formula, written out (the painting's original form)."""
    gh, gw = max(2, int(h / max(scale, 1.0)) + 2), max(2, int(w / max(scale, 1.0)) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    ys = np.linspace(0, gh - 1.001, h, dtype=np.float32)
    xs = np.linspace(0, gw - 1.001, w, dtype=np.float32)
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    out = ((grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx) * (1 - fy)
           + (grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx) * fy)
    return np.clip(out / 1.5, -1.0, 1.0)


def test_separable_noise_has_the_same_bits_as_the_four_corner_formula() -> None:
    for h, w, scale in [(37, 53, 1.5), (120, 90, 4.0), (64, 64, 40.0)]:
        ref = _bilinear_reference(np.random.default_rng(1), h, w, scale)
        assert np.array_equal(_smooth_noise(np.random.default_rng(1), h, w, scale), ref)


def test_synth_images_limit_and_workers_give_the_same_files(tmp_path: Path) -> None:
    from dermx_bench.store.db import Store
    from dermx_bench.synthetic.images import write_store_images
    from tests.harness_util import make_world

    w = make_world(tmp_path / "w", 5)
    with Store.open(w["store"]) as s:
        first3 = [i.name for i in s.images()][:3]
    one = write_store_images(w["store"], tmp_path / "one", seed=1, marker=True, limit=3, workers=1)
    two = write_store_images(w["store"], tmp_path / "two", seed=1, marker=True, limit=3, workers=2)
    assert one.written == two.written == 3
    assert sorted(p.stem for p in (tmp_path / "one").iterdir()) == first3
    for p in (tmp_path / "one").iterdir():
        assert (tmp_path / "two" / p.name).read_bytes() == p.read_bytes()
        assert (w["photos"] / p.name).read_bytes() == p.read_bytes()  # the same as without --limit


def test_photographs_keep_every_pixel_of_the_golden_file() -> None:
    """The painting's speed-ups keep its pixels: sha256 of photos made by the earlier implementation."""
    import hashlib
    import json

    from dermx_bench.synthetic.images import random_lesion_mask, synth_photo

    golden = json.loads((Path(__file__).parent / "golden" / "synth_photos.json").read_text())
    for case in golden["cases"]:
        h, w, dx = case["height"], case["width"], case["diagnosis"]
        mask = random_lesion_mask(h, w, np.random.default_rng(case["mask_seed"]))
        photo = synth_photo(h, w, mask, dx, np.random.default_rng(case["seed"]), marker=dx,
                            tone=tuple(case["tone"]) if case["tone"] else None)
        assert hashlib.sha256(photo.tobytes()).hexdigest() == case["sha256"], case
