"""Token and channels-last layer outputs become (B, C, h, w) maps; ambiguous shapes are refused."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.harness.feature_layout import (
    FeatureLayout,
    LayoutError,
    infer_layout,
    spatial_ok,
    token_grid,
)

PLAIN = SimpleNamespace()


def vit_like(prefix: int, grid: tuple[int, int] | None = None) -> SimpleNamespace:
    """A model as timm's ViTs describe themselves: prefix tokens and the patch grid of their img_size."""
    return SimpleNamespace(num_prefix_tokens=prefix, patch_embed=SimpleNamespace(grid_size=grid))


def test_dynamic_patch_grid_is_asked_for_the_input_size() -> None:
    """A ViT built for 160x160 with dynamic_img_size runs at 48x64: timm's dynamic_feat_size says 3x4."""
    import timm

    vit: Any = timm.create_model("test_vit", pretrained=False, num_classes=6)
    assert tuple(vit.patch_embed.grid_size) == (10, 10)
    assert token_grid(13, (48, 64), vit) == (1, (3, 4))  # 2x6 and 4x3 would fit the stride test too


def test_four_dimensional_readings() -> None:
    assert infer_layout((2, 64, 8, 8), (64, 64), PLAIN) == FeatureLayout("nchw", (8, 8), 64)
    swin = SimpleNamespace(output_fmt="NHWC")
    assert infer_layout((2, 7, 7, 768), (224, 224), swin) == FeatureLayout("nhwc", (7, 7), 768)
    # SAM-ViT and VOLO blocks output (B, h, w, C) without saying so: the only reading left
    assert infer_layout((2, 14, 14, 768), (224, 224), PLAIN) == FeatureLayout("nhwc", (14, 14), 768)
    # both readings fit: channels-first unless the model declares channels-last
    assert infer_layout((1, 8, 8, 8), (32, 32), PLAIN).kind == "nchw"
    assert infer_layout((1, 8, 8, 8), (32, 32), swin).kind == "nhwc"
    with pytest.raises(LayoutError, match="not a feature map of the image"):
        infer_layout((2, 3, 100, 1), (224, 224), PLAIN)
    with pytest.raises(LayoutError, match=r"shape \(1, 6\)"):
        infer_layout((1, 6), (64, 64), PLAIN)


def test_declared_nhwc_that_is_channels_first_is_read_as_such() -> None:
    # a layer of a channels-last model whose output does not fit (h, w, C) stays NCHW
    mambaout_stem = SimpleNamespace(output_fmt="NHWC")
    assert infer_layout((1, 96, 16, 16), (64, 64), mambaout_stem).kind == "nchw"


def test_token_grids() -> None:
    # ViT-S/16 at 224: 1 class token + 14x14
    assert token_grid(197, (224, 224), vit_like(1, (14, 14))) == (1, (14, 14))
    # DeiT distilled: class + distillation token
    assert token_grid(198, (224, 224), vit_like(2, (14, 14))) == (2, (14, 14))
    # a 300x400 input with 16-pixel patches: 18x25 patches (floor), no grid reported
    assert token_grid(1 + 18 * 25, (300, 400), vit_like(1)) == (1, (18, 25))
    # CaiT's patch blocks carry no class token although num_prefix_tokens is 1
    assert token_grid(196, (224, 224), vit_like(1, (14, 14))) == (0, (14, 14))
    with pytest.raises(LayoutError, match="several patch grids"):
        token_grid(195, (224, 224), vit_like(0))  # 13x15 and 15x13 both fit; no grid reported
    with pytest.raises(LayoutError, match="no patch grid"):
        token_grid(1 + 97, (64, 64), vit_like(1))  # 97 is prime


def test_to_nchw_moves_each_token_to_its_cell() -> None:
    b, prefix, h, w, c = 2, 1, 3, 4, 5
    tokens = torch.arange(b * (prefix + h * w) * c, dtype=torch.float32).reshape(b, prefix + h * w, c)
    out = FeatureLayout("tokens", (h, w), c, prefix).to_nchw(tokens)
    assert out.shape == (b, c, h, w)
    for r in range(h):
        for col in range(w):
            torch.testing.assert_close(out[:, :, r, col], tokens[:, prefix + r * w + col, :])
    nhwc = torch.randn(b, h, w, c)
    torch.testing.assert_close(FeatureLayout("nhwc", (h, w), c).to_nchw(nhwc), nhwc.permute(0, 3, 1, 2))


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 16), st.integers(1, 16), st.sampled_from([4, 8, 14, 16, 32]), st.integers(0, 4))
def test_grid_of_any_patch_model_is_found(h: int, w: int, patch: int, prefix: int) -> None:
    """Tokens of an (h*patch, w*patch) input fold back into (h, w) whenever timm reports the grid."""
    size = (h * patch, w * patch)
    assert spatial_ok(size, h, w)
    found_prefix, grid = token_grid(prefix + h * w, size, vit_like(prefix, (h, w)))
    assert grid == (h, w)
    assert found_prefix == prefix


def test_layout_describe() -> None:
    assert FeatureLayout("tokens", (14, 14), 384, 1).describe() == "tokens (1 prefix) folded to 14x14x384"
    assert FeatureLayout("nchw", (7, 7), 2048).describe() == "nchw 2048x7x7"
