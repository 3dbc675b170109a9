"""The layer CAM methods explain: chosen, checked on the model, and its output layout.

Default target layer (no ``target_layer`` in the configuration):

1. the last module timm's ``feature_info`` reports: the last stage of a CNN
   (``layer4``, ``stages.3``, ...), of Swin/MaxViT (``layers.3``, ``stages.3``), the
   last block of a ViT (``blocks.11``);
2. if the class scores do not depend on any spatial position of that layer's output
   (all gradients zero), that block's ``norm1`` instead. This is the case of
   class-token transformers (ViT, DeiT, ...: timm's ``global_pool == "token"``): the
   head reads only the class token after the last block, so the patch tokens the last
   block outputs are discarded and their gradients are exactly zero. ``norm1`` is the
   normalised input of the last block's attention, through which the class token
   still reads every patch token (pytorch-grad-cam's recommendation for ViTs).
   Average-pooled transformers (BEiT, EVA, ...) keep the last block.

A layer given explicitly is kept as given, but refused when it does not run exactly
once in the forward pass, outputs no feature map of the image
(:mod:`dermx_bench.harness.feature_layout`), or gets zero gradients everywhere.

The checks run one seeded random image (standard normal, seed 0) through the model,
with gradients enabled down to the layer only.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermx_bench.harness.feature_layout import FeatureLayout, LayoutError, infer_layout
from dermx_bench.harness.submission_config import config_error

_FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, IndexError)


@dataclass(frozen=True)
class TargetLayer:
    """The chosen layer: module ``path``, output ``layout``; ``is_default`` when not configured."""

    path: str
    layout: FeatureLayout
    is_default: bool


def feature_info_layer(module: Any) -> str | None:
    """The last module timm's ``feature_info`` reports, or None."""
    info = getattr(module, "feature_info", None)
    last = None
    if isinstance(info, Sequence) and info and isinstance(info[-1], dict):
        last = info[-1].get("module")
    elif info is not None and hasattr(info, "module_name"):
        names = info.module_name()
        last = names[-1] if names else None
    return last if isinstance(last, str) and last else None


def default_candidates(module: Any, config_file: Path) -> list[str]:
    """Default target layers in order of preference (see the module docstring)."""
    last = feature_info_layer(module)
    if last is None:
        raise config_error(config_file, "target_layer", "the model reports no timm feature_info; give "
                           "target_layer explicitly (a module path such as \"layer4\")")
    try:
        block = module.get_submodule(last)
    except AttributeError:
        raise config_error(config_file, "target_layer", f"timm's feature_info names {last!r}, which the model "
                           "does not have; give target_layer explicitly") from None
    out = [last]
    norm1 = getattr(block, "norm1", None)
    if norm1 is not None and hasattr(norm1, "register_forward_hook"):
        out.append(f"{last}.norm1")
    return out


def resolve_target_layer(module: Any, path: str, config_file: Path) -> Any:
    """The submodule at ``path``; SubmissionError listing close paths when there is none."""
    try:
        return module.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
        hint = f"; close module paths: {', '.join(close)}" if close else ""
        raise config_error(config_file, "target_layer", f"the model has no module {path!r}{hint}") from None


def probe_input(input_size: tuple[int, int]) -> Any:
    """The dry run's image: float32 (1, 3, H, W), standard normal, seed 0."""
    import torch

    return torch.randn(1, 3, *input_size, generator=torch.Generator().manual_seed(0))


def check_outputs(module: Any, input_size: tuple[int, int], n_classes: int, config_file: Path) -> None:
    """One forward pass: the model takes an (H, W) input and gives (1, n_classes) logits."""
    import torch

    with torch.no_grad():
        try:
            out = module(probe_input(input_size))
        except _FORWARD_ERRORS as exc:
            raise config_error(config_file, "input_size", f"the model fails on a "
                               f"{input_size[0]}x{input_size[1]} input: {exc}") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise config_error(config_file, "model", f"expected logits of shape (B, classes), got {shape}")
    if out.shape[1] != n_classes:
        raise config_error(config_file, "classes", f"{n_classes} classes listed but the model "
                           f"has {out.shape[1]} outputs")


def probe_layer(module: Any, path: str, input_size: tuple[int, int], config_file: Path) -> tuple[FeatureLayout, bool]:
    """(layout of ``path``'s output, whether any gradient of the class scores reaches it)."""
    import torch

    layer = resolve_target_layer(module, path, config_file)
    seen: list[Any] = []

    def hook(_m: Any, _i: Any, out: Any) -> Any:
        if isinstance(out, torch.Tensor):
            leaf = out.detach().requires_grad_(True)
            seen.append(leaf)
            return leaf.clone()
        seen.append(out)
        return None

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            out = module(probe_input(input_size))
    finally:
        handle.remove()
    if not seen:
        raise config_error(config_file, "target_layer", f"{path!r} is not called in the model's forward pass")
    if len(seen) > 1:
        raise config_error(config_file, "target_layer", f"{path!r} is called {len(seen)} times in one "
                           "forward pass; choose a layer used once")
    act = seen[0]
    if not isinstance(act, torch.Tensor):
        several = " (several tensors)" if isinstance(act, list | tuple) else ""
        raise config_error(config_file, "target_layer", f"{path!r} outputs a {type(act).__name__}{several}, "
                           "expected one feature map; give target_layer explicitly")
    try:
        layout = infer_layout(tuple(act.shape), input_size, module)
    except LayoutError as exc:
        raise config_error(config_file, "target_layer", f"{path!r} {exc}") from None
    try:
        (grad,) = torch.autograd.grad(out[0].sum(), act, allow_unused=True)
    except RuntimeError as exc:
        raise config_error(config_file, "target_layer", f"gradients cannot flow from the outputs to "
                           f"{path!r}: {exc}") from None
    if grad is None:
        raise config_error(config_file, "target_layer", f"the outputs do not depend on {path!r}; choose "
                           "a layer before the classifier head")
    # "reaches": any gradient not exactly zero (a NaN one too: the outputs depend on the layer, and a
    # model whose outputs are not finite is refused on its first batch, naming the images)
    return layout, bool((layout.to_nchw(grad) != 0).any())


def choose_target_layer(module: Any, configured: str | None, input_size: tuple[int, int],
                        config_file: Path) -> TargetLayer:
    """The configured layer, checked, or the default (see the module docstring)."""
    if configured is not None:
        layout, nonzero = probe_layer(module, configured, input_size, config_file)
        if not nonzero:
            norm1 = f"{configured}.norm1"
            hint = (f" (the head reads only prefix tokens after it; {norm1!r} is the input of its attention)"
                    if layout.kind == "tokens" and hasattr(module.get_submodule(configured), "norm1") else "")
            raise config_error(config_file, "target_layer", f"the class scores' gradients are zero at every "
                               f"position of {configured!r}{hint}; choose an earlier layer")
        return TargetLayer(configured, layout, is_default=False)
    tried = []
    for path in default_candidates(module, config_file):
        layout, nonzero = probe_layer(module, path, input_size, config_file)
        if nonzero:
            return TargetLayer(path, layout, is_default=True)
        tried.append(path)
    raise config_error(config_file, "target_layer", f"the class scores' gradients are zero at every position "
                       f"of the default layer(s) {', '.join(map(repr, tried))}; give target_layer explicitly")
