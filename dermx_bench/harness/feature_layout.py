"""How a target layer's output becomes a (B, C, h, w) feature map for the CAM methods.

CAM methods weight the channels of a spatial feature map. A layer may output:

- ``nchw``: (B, C, h, w), a convolutional feature map: used as is;
- ``nhwc``: (B, h, w, C), channels last (timm's Swin, MambaOut, ... declare it with
  ``model.output_fmt == "NHWC"``; SAM-ViT, VOLO, ... do not): permuted to (B, C, h, w);
- ``tokens``: (B, N, C), a transformer's token sequence (ViT, DeiT, BEiT, EVA, ...):
  the first ``num_prefix_tokens`` tokens (class, distillation and register tokens, as
  timm reports them on the model) are dropped and the remaining N - prefix patch
  tokens, in row-major order (timm's convention), are folded into the (h, w) patch
  grid and permuted to (B, C, h, w).

The layout is inferred from the model and the layer's output for the submission's
input size (H, W): an (h, w) grid must be the input downsampled by one common
stride. A 4-d output (B, a, b, c) is read channels-last when the model declares it and
(a, b) is such a grid, else channels-first when (b, c) is, else channels-last when (a, b)
is (the only reading left). For tokens the grid is the one the model's ``patch_embed``
reports when it fits, else the only (h, w) with h * w = N - prefix that fits. Outputs
that fit no reading, and token counts that fold into no grid or into several, are
refused (:class:`LayoutError`) rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

LayoutKind = Literal["nchw", "nhwc", "tokens"]


class LayoutError(ValueError):
    """A layer output that is not, or not unambiguously, a spatial feature map."""


@dataclass(frozen=True)
class FeatureLayout:
    """A layer output's layout: ``kind``, patch ``grid`` (h, w), ``channels`` and ``prefix`` tokens."""

    kind: LayoutKind
    grid: tuple[int, int]
    channels: int
    prefix: int = 0

    def to_nchw(self, t: torch.Tensor) -> torch.Tensor:
        """The layer output (or its gradient) as (B, C, h, w); a view where possible."""
        if self.kind == "nchw":
            return t
        if self.kind == "nhwc":
            return t.permute(0, 3, 1, 2)
        h, w = self.grid
        return t[:, self.prefix:, :].reshape(t.shape[0], h, w, t.shape[-1]).permute(0, 3, 1, 2)

    def describe(self) -> str:
        """One line for reports, e.g. ``tokens (1 prefix) folded to 14x14``."""
        h, w = self.grid
        if self.kind == "tokens":
            return f"tokens ({self.prefix} prefix) folded to {h}x{w}x{self.channels}"
        return f"{self.kind} {self.channels}x{h}x{w}"


def _stride_range(n_in: int, n_out: int) -> tuple[float, float]:
    """Strides s for which ceil or floor of n_in / s is n_out (give or take padding)."""
    hi = n_in / (n_out - 1.5) if n_out > 1.5 else math.inf
    return n_in / (n_out + 1.5), hi


def spatial_ok(size: tuple[int, int], h: int, w: int) -> bool:
    """Whether an (h, w) grid can be the (H, W) input downsampled by one common stride."""
    if h < 1 or w < 1 or h > size[0] or w > size[1]:
        return False
    lo_h, hi_h = _stride_range(size[0], h)
    lo_w, hi_w = _stride_range(size[1], w)
    return max(lo_h, lo_w) < min(hi_h, hi_w)


def declared_format(model: Any) -> str | None:
    """timm's ``output_fmt`` of the model (``"NHWC"``, ``"NCHW"``, ...), or None."""
    fmt = getattr(model, "output_fmt", None)
    fmt = getattr(fmt, "value", fmt)
    return fmt.upper() if isinstance(fmt, str) else None


def _model_grid(model: Any, size: tuple[int, int]) -> tuple[int, int] | None:
    """The patch grid timm's ``patch_embed`` gives an (H, W) input, if the model has one."""
    embed = getattr(model, "patch_embed", None)
    feat_size = getattr(embed, "dynamic_feat_size", None)
    grid = feat_size(size) if callable(feat_size) else getattr(embed, "grid_size", None)
    if isinstance(grid, tuple | list) and len(grid) == 2 and all(isinstance(g, int) for g in grid):
        return (int(grid[0]), int(grid[1]))
    return None


def token_grid(n_tokens: int, size: tuple[int, int], model: Any) -> tuple[int, tuple[int, int]]:
    """(prefix, grid) for ``n_tokens`` tokens of an (H, W) input; LayoutError when not unique.

    Prefix candidates: the model's ``num_prefix_tokens``, then 0 (blocks that run before a
    class token is added, as in CaiT). For each, the grid of the model's ``patch_embed`` for
    this input (``dynamic_feat_size``, else ``grid_size``) wins when it holds the remaining
    tokens; otherwise the only fitting (h, w) is taken.
    """
    declared = getattr(model, "num_prefix_tokens", 0)
    declared = int(declared) if isinstance(declared, int) and declared >= 0 else 0
    prefixes = [p for p in dict.fromkeys((declared, 0)) if p < n_tokens]
    grid = _model_grid(model, size)
    for p in prefixes:
        if grid is not None and grid[0] * grid[1] == n_tokens - p and spatial_ok(size, *grid):
            return p, grid
    fits = {p: [(h, (n_tokens - p) // h) for h in range(1, n_tokens - p + 1)
                if (n_tokens - p) % h == 0 and spatial_ok(size, h, (n_tokens - p) // h)] for p in prefixes}
    for p in prefixes:
        if len(fits[p]) == 1:
            return p, fits[p][0]
    found = sorted({f"{h}x{w}" for p in prefixes for h, w in fits[p]})
    what = f"several patch grids ({', '.join(found)})" if found else "no patch grid"
    raise LayoutError(
        f"{n_tokens} tokens, less {' or '.join(map(str, prefixes)) or 'no'} prefix token(s) (the model's "
        f"num_prefix_tokens is {declared}), fold into {what} of the {size[0]}x{size[1]} input"
    )


def infer_layout(shape: tuple[int, ...], size: tuple[int, int], model: Any) -> FeatureLayout:
    """The layout of a layer output of ``shape`` (batch first) for an (H, W) = ``size`` input.

    Raises LayoutError saying why the shape is not a feature map of the image.
    """
    if len(shape) == 3:
        _, n, c = shape
        try:
            prefix, grid = token_grid(n, size, model)
        except LayoutError as exc:
            raise LayoutError(f"outputs {tuple(shape)}, which looks like tokens (B, N, C), but {exc}; "
                              "choose another layer or give a model whose tokens form a patch grid") from None
        return FeatureLayout("tokens", grid, int(c), prefix)
    if len(shape) != 4:
        raise LayoutError(f"outputs a tensor of shape {tuple(shape)}; expected (B, C, h, w), (B, h, w, C) "
                          "or tokens (B, N, C)")
    _, a, b, c = shape
    nhwc_ok = spatial_ok(size, a, b)
    if nhwc_ok and declared_format(model) == "NHWC":
        return FeatureLayout("nhwc", (int(a), int(b)), int(c))
    if spatial_ok(size, b, c):
        return FeatureLayout("nchw", (int(b), int(c)), int(a))
    if nhwc_ok:
        return FeatureLayout("nhwc", (int(a), int(b)), int(c))
    raise LayoutError(f"outputs {tuple(shape)} for a {size[0]}x{size[1]} input; neither (B, C, h, w) nor "
                      "(B, h, w, C) with (h, w) a grid of the image: this is not a feature map of the image")
