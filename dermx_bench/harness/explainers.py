"""Explanation-map methods, registered by name (METHODS.md §7).

A method is a function ``(model, target_layer, batch, targets) -> CamOutput``:

- ``model``: a ``torch.nn.Module`` in eval mode, parameters frozen;
- ``target_layer``: the module whose (B, C, h, w) output CAM methods explain
  (methods that work on the input, such as Integrated Gradients, ignore it);
- ``batch``: float32 (B, 3, H_in, W_in) model inputs on the model's device;
- ``targets``: one class index per image, or a function of the logits
  (float32 numpy (B, K)) returning them (e.g. the predicted class);

and returns :class:`CamOutput` with ``maps`` float32 (B, h, w) in [0, 1] (ReLU,
then divided by each map's maximum; an all-zero map stays zero), on any grid that
covers the model input uniformly, and the logits it computed on the way.

The CAM methods are those of pytorch-grad-cam (``gradcam`` default, ``gradcam++``,
``xgradcam``, ``hirescam``, ``layercam``, ``eigencam``, ``scorecam``): the
channel weighting is theirs, but activations and gradients are captured here
without any parameter gradient. The target layer's output is replaced, in a
forward hook, by a detached copy that requires grad, and ``torch.autograd.grad``
differentiates the sum of the target scores with respect to it only: backward
stops at the target layer, nothing below it keeps an autograd graph, and the
maps equal pytorch-grad-cam's (whose ``loss.backward()`` also fills every
parameter's ``.grad``). Hooks are removed in ``finally`` whatever happens.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.core.errors import SubmissionError
from dermx_bench.core.registry import Registry

if TYPE_CHECKING:
    import torch

Targets = Sequence[int] | Callable[[np.ndarray], Sequence[int]]


@dataclass
class CamOutput:
    """``maps`` float32 (B, h, w) in [0, 1]; ``logits`` float32 (B, K); ``targets`` int64 (B,)."""

    maps: np.ndarray
    logits: np.ndarray
    targets: np.ndarray

    @property
    def all_zero(self) -> np.ndarray:
        """bool (B,): maps that are zero everywhere."""
        return np.asarray(~self.maps.reshape(len(self.maps), -1).any(axis=1), dtype=bool)


CamMethod = Callable[["torch.nn.Module", "torch.nn.Module", "torch.Tensor", Targets], CamOutput]

_METHODS: Registry[CamMethod] = Registry("CAM method")
DEFAULT_METHOD = "gradcam"


def list_cam_methods() -> list[str]:
    """Registered method names, default first."""
    return _METHODS.names()


def get_cam_method(name: str) -> CamMethod:
    """The method registered under ``name`` (RegistryError listing the known ones)."""
    return _METHODS.get(name)


def register_cam_method(name: str) -> Callable[[CamMethod], CamMethod]:
    """Decorator adding a method (e.g. Integrated Gradients) to the registry."""
    return _METHODS.register(name)


def normalise_maps(raw: np.ndarray) -> np.ndarray:
    """ReLU, then divide each map by its maximum; all-zero maps stay zero.

    ``raw``: (B, h, w) real. Returns float32 (B, h, w) in [0, 1]. Raises
    SubmissionError naming the batch positions whose maps are not finite.
    """
    raw = np.asarray(raw, dtype=np.float32)
    finite = np.isfinite(raw.reshape(len(raw), -1)).all(axis=1)
    if not finite.all():
        raise SubmissionError(
            f"the explanation map is not finite (NaN/inf) for batch position(s) "
            f"{np.flatnonzero(~finite).tolist()}"
        )
    pos = np.maximum(raw, np.float32(0.0))
    peak = pos.reshape(len(pos), -1).max(axis=1) if pos.size else np.zeros(len(pos), np.float32)
    out = np.zeros_like(pos)
    nz = peak > 0
    out[nz] = pos[nz] / peak[nz, None, None]
    return np.minimum(out, np.float32(1.0), out=out)


def resolve_targets(targets: Targets, logits: np.ndarray) -> np.ndarray:
    """int64 (B,) class indices from a sequence or a function of the logits."""
    t = targets(logits) if callable(targets) else targets
    arr = np.asarray(list(t), dtype=np.int64)
    if arr.shape != (logits.shape[0],):
        raise ValueError(f"expected one target per image ({logits.shape[0]}), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= logits.shape[1]):
        raise ValueError(f"target outside 0..{logits.shape[1] - 1}: {arr.tolist()}")
    return arr


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
    act = captured[0]
    if act.ndim != 4:
        raise SubmissionError(f"the target layer outputs shape {tuple(act.shape)}, expected (B, C, h, w)")
    return act


def activations_and_gradients(
    model: torch.nn.Module, layer: torch.nn.Module, batch: torch.Tensor, targets: Targets, grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray, np.ndarray]:
    """One forward (and, with ``grad``, a backward down to ``layer`` only).

    Returns (activations (B, C, h, w), gradients of the summed target scores w.r.t.
    them or None, logits float32 (B, K), targets int64 (B,)). Parameters get no
    ``.grad``; the model is put in eval mode.
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
        return act.detach(), g, logits, t
    with torch.no_grad(), capture(layer, grad=False) as cap:
        out = model(batch)
    logits = out.float().cpu().numpy()
    return _single(cap), None, logits, resolve_targets(targets, logits)


def _gradcam_family(cam_class_name: str, uses_gradients: bool = True) -> CamMethod:
    def method(model: Any, layer: Any, batch: Any, targets: Targets) -> CamOutput:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        act, grad, logits, t = activations_and_gradients(model, layer, batch, targets, grad=uses_gradients)
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


for _name, _cls, _grads in (
    ("gradcam", "GradCAM", True),
    ("gradcam++", "GradCAMPlusPlus", True),
    ("xgradcam", "XGradCAM", True),
    ("hirescam", "HiResCAM", True),
    ("layercam", "LayerCAM", True),
    ("eigencam", "EigenCAM", False),
    ("scorecam", "ScoreCAM", False),
):
    _METHODS.add(_name, _gradcam_family(_cls, _grads))
