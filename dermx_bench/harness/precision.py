"""A leaner forward: ``--precision bf16`` autocast for CAM methods, batch norm folded into convolutions.

``bf16``: the explained forward (and backward to the target layer) runs under
``torch.autocast`` with bfloat16 on the run's device; activations and gradients are
turned into float32 before the map maths. Maps correlate r >= 0.999 with fp32 on a
trained model (tests/test_precision.py); runs record it in their method label
(``gradcam [bf16]``), so the leaderboard lists bf16 and fp32 runs apart.

``fold_batch_norm``: in eval mode a BatchNorm2d after a Conv2d is an affine map of the
convolution's output, so it can be folded into the convolution's weights and bias
(``torch.nn.utils.fusion.fuse_conv_bn_eval``): the same outputs up to float rounding
(~1e-6 relative), one pass over the feature map less. Pairs are found on the model's
``torch.fx`` graph (a convolution whose only user is the batch norm); the module
hierarchy is kept (the batch norm becomes ``Identity`` in place), so the target layer's
hooks still fire. A model ``torch.fx`` cannot trace, or a pair touching the target
layer itself, is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from dermx_bench.core.errors import InputError

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str, family: str) -> None:
    """InputError naming ``--precision`` for an unknown value, or bf16 with a non-CAM method."""
    if precision not in PRECISIONS:
        raise InputError("--precision", "", f"expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and family != "cam":
        raise InputError("--precision", "", "bf16 is for CAM methods; input attribution methods run in fp32")


def label_with_precision(label: str, precision: str) -> str:
    """The method label a run records: ``label`` in fp32, ``label [bf16]`` otherwise."""
    return label if precision == "fp32" else f"{label} [{precision}]"


@contextmanager
def autocast(precision: str, device: str) -> Iterator[None]:
    """``torch.autocast`` with bfloat16 on ``device`` for ``bf16``; nothing for ``fp32``."""
    import torch

    ctx: Any = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if precision == "bf16"
                else nullcontext())
    with ctx:
        yield


def fold_batch_norm(model: Any, keep: str | None = None) -> int:
    """Fold every eval-mode BatchNorm2d that follows a Conv2d into it, in place; returns the count.

    ``keep``: the target layer's name; a pair whose convolution or batch norm is that
    layer is left alone (its output is what the CAM explains). Call on a model in eval
    mode (as :func:`~dermx_bench.harness.submission.load_submission` leaves it).
    """
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    try:
        graph = torch.fx.symbolic_trace(model).graph
    except (torch.fx.proxy.TraceError, TypeError, ValueError, RuntimeError, NotImplementedError, AttributeError,
            KeyError, IndexError, AssertionError):  # not traceable (dynamic control flow, custom ops): not folded
        return 0
    modules = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), torch.nn.BatchNorm2d):
            continue
        src: Any = node.args[0] if node.args else None
        if (getattr(src, "op", None) == "call_module" and isinstance(modules.get(src.target), torch.nn.Conv2d)
                and len(src.users) == 1 and keep not in (src.target, node.target)):
            pairs.append((str(src.target), str(node.target)))
    folded = 0
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        if bn.training or not bn.track_running_stats or bn.running_mean is None:
            continue
        fused = fuse_conv_bn_eval(conv, bn)
        fused.requires_grad_(False)
        _replace(model, conv_name, fused)
        _replace(model, bn_name, torch.nn.Identity())
        folded += 1
    return folded


def _replace(model: Any, name: str, new: Any) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
