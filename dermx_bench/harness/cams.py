"""Class activation maps (METHODS §7): pytorch-grad-cam's weightings on a captured layer.

The CAM methods are those of pytorch-grad-cam (``gradcam``, ``gradcam++``,
``xgradcam``, ``hirescam``, ``layercam``, ``eigencam``, ``scorecam``): the channel
weighting is theirs, but activations and gradients are captured here without any
parameter gradient. The target layer's output is replaced, in a forward hook, by a
detached copy that requires grad, and ``torch.autograd.grad`` differentiates the sum of
the target scores with respect to it only: backward stops at the target layer, nothing
below it keeps an autograd graph, and the maps equal pytorch-grad-cam's (whose
``loss.backward()`` also fills every parameter's ``.grad``). Hooks are removed in
``finally`` whatever happens.

A layer whose output is not (B, C, h, w) (transformer tokens, channels-last maps) is
explained through ``reshape`` (:meth:`dermx_bench.harness.feature_layout.FeatureLayout.to_nchw`),
applied to the activations and to their gradients alike, as pytorch-grad-cam's
``reshape_transform``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.core.errors import SubmissionError
from dermx_bench.harness.explanation_maps import CamOutput, Targets, normalise_maps, resolve_targets

if TYPE_CHECKING:
    import torch

Reshape = Callable[["torch.Tensor"], "torch.Tensor"]


@contextmanager
def capture(layer: torch.nn.Module, grad: bool) -> Iterator[list[torch.Tensor]]:
    """Record ``layer``'s output during a forward pass; the hook is always removed.

    With ``grad``, the output is replaced by a detached leaf that requires grad
    (a clone of it flows on, so later in-place ops are harmless): gradients can then
    be taken with respect to the recorded tensor without any graph below it.
    """
    import torch

    captured: list[torch.Tensor] = []

    def hook(_m: Any, _i: Any, out: Any) -> Any:
        if not isinstance(out, torch.Tensor):
            raise SubmissionError(f"the target layer outputs {type(out).__name__}, expected a tensor")
        if grad:
            leaf = out.detach().requires_grad_(True)
            captured.append(leaf)
            return leaf.clone()
        captured.append(out.detach())
        return None

    handle = layer.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def _single(captured: list[torch.Tensor]) -> torch.Tensor:
    if len(captured) != 1:
        raise SubmissionError(f"the target layer ran {len(captured)} times in one forward pass, expected once")
    return captured[0]


def _nchw(t: torch.Tensor, reshape: Reshape | None) -> torch.Tensor:
    out = reshape(t) if reshape is not None else t
    if out.ndim != 4:
        raise SubmissionError(f"the target layer outputs shape {tuple(t.shape)}, expected (B, C, h, w)")
    return out


def activations_and_gradients(
    model: torch.nn.Module, layer: torch.nn.Module, batch: torch.Tensor, targets: Targets, grad: bool = True,
    reshape: Reshape | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray, np.ndarray]:
    """One forward (and, with ``grad``, a backward down to ``layer`` only).

    Returns (activations (B, C, h, w), gradients of the summed target scores w.r.t.
    them or None, logits float32 (B, K), targets int64 (B,)); ``reshape`` turns the
    layer's output (and its gradient) into (B, C, h, w). Parameters get no ``.grad``;
    the model is put in eval mode.
    """
    import torch

    model.eval()
    if grad:
        with torch.enable_grad(), capture(layer, grad=True) as cap:
            out = model(batch)
            logits = out.detach().float().cpu().numpy()
            t = resolve_targets(targets, logits)
            act = _single(cap)
            index = torch.as_tensor(t, device=out.device)[:, None]
            score = out.gather(1, index).sum()
            (g,) = torch.autograd.grad(score, act)
        return _nchw(act.detach(), reshape), _nchw(g, reshape), logits, t
    with torch.no_grad(), capture(layer, grad=False) as cap:
        out = model(batch)
    logits = out.float().cpu().numpy()
    return _nchw(_single(cap), reshape), None, logits, resolve_targets(targets, logits)


def gradcam_family(cam_class_name: str, uses_gradients: bool = True) -> Callable[..., CamOutput]:
    """A CAM method ``(model, layer, batch, targets, reshape=None) -> CamOutput`` with the
    channel weighting of pytorch-grad-cam's ``cam_class_name``."""

    def method(model: Any, layer: Any, batch: Any, targets: Targets, reshape: Reshape | None = None) -> CamOutput:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        if layer is None:
            raise SubmissionError("CAM methods need a target layer and the model has none usable")
        act, grad, logits, t = activations_and_gradients(model, layer, batch, targets, grad=uses_gradients,
                                                         reshape=reshape)
        # target_layers=[] registers no hooks: we only use the class's weighting maths.
        cam = getattr(pytorch_grad_cam, cam_class_name)(model, target_layers=[])
        act_np = act.float().cpu().numpy()
        grad_np = grad.float().cpu().numpy() if grad is not None else None
        objs = [ClassifierOutputTarget(int(c)) for c in t]
        sink = io.StringIO()
        with contextlib.redirect_stderr(sink):  # ScoreCAM prints a tqdm bar per image
            raw = cam.get_cam_image(batch, layer, objs, act_np, grad_np, eigen_smooth=False)
        return CamOutput(normalise_maps(raw), logits, t)

    method.__name__ = f"cam_{cam_class_name}"
    method.__doc__ = f"pytorch-grad-cam {cam_class_name} on the target layer (see module docstring)."
    return method
