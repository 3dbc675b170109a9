"""Where and how a model runs: the device, and the tensor layout (memory format)."""

from __future__ import annotations

from typing import Any

from dermx_bench.core.errors import InputError

MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
DEVICES = ("auto", "cpu", "cuda")


def torch_format(layout: str) -> Any:
    """The ``torch.memory_format`` of a layout name (``channels_last`` or ``contiguous``)."""
    import torch

    return torch.channels_last if layout == "channels_last" else torch.contiguous_format


def choose_memory_format(model: Any, input_size: tuple[int, int], device: str, wanted: str = "auto") -> str:
    """The tensor layout the run uses: ``channels_last`` or ``contiguous``.

    ``input_size``: the model input's (height, width). ``auto`` picks ``channels_last``
    (oneDNN and cuDNN convolutions run 1.4-1.7x faster on it for ResNet-50 /
    EfficientNet-B4 on a CPU; the maps are the same up to float rounding) when two random
    inputs give the same logits (rtol 1e-3, atol 1e-4) in both layouts, and
    ``contiguous`` when they do not or the model fails on channels-last input (e.g. a
    custom ``.view()``). Deterministic for a given model and device.
    """
    import torch

    if wanted == "contiguous":
        return "contiguous"
    if wanted == "channels_last":
        return "channels_last"
    x = torch.randn(2, 3, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
    model.to(device)
    try:
        with torch.no_grad():
            ref = model(x)
            model.to(memory_format=torch.channels_last)
            got = model(x.contiguous(memory_format=torch.channels_last))
        same = bool(torch.allclose(ref, got, rtol=1e-3, atol=1e-4))
    except RuntimeError:
        same = False
    finally:
        model.to(memory_format=torch.contiguous_format)
    return "channels_last" if same else "contiguous"


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a CUDA device, else ``cpu``; InputError for the unavailable."""
    import torch

    if device not in DEVICES:
        raise InputError("--device", "", f"expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device", "", "cuda was asked for but torch sees no CUDA device")
    return device
