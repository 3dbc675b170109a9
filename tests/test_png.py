"""The synthetic photographs' PNG encoder: any decoder (Pillow here) reads back the same pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dermx_bench.synthetic.png import png_bytes


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), level=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_pillow_decodes_the_same_pixels(h: int, w: int, level: int, seed: int) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(png_bytes(rgb, level))) as im:
        im.load()
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (w, h))
        assert np.array_equal(np.asarray(im), rgb)


def test_noise_like_skin_is_as_small_as_with_pillows_filters() -> None:
    from dermx_bench.synthetic.images import synth_photo

    photo = synth_photo(300, 400, None, None, np.random.default_rng(0))
    pillow = io.BytesIO()
    Image.fromarray(photo).save(pillow, format="PNG", compress_level=1)
    assert len(png_bytes(photo)) < 1.05 * len(pillow.getvalue())


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8),
                                 np.zeros((4, 4, 4), np.uint8), np.zeros((0, 4, 3), np.uint8)])
def test_refuses_what_is_not_an_rgb_image(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(bad)
