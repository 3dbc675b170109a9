"""Why a state dict does not fit a timm architecture, in words that suggest the fix.

Two causes cover most mistakes, and both are recognised without the network:

- **a class-count mismatch**: every tensor matches except the classifier's, whose first
  dimension is the number of outputs the weights were trained with
  (:func:`head_outputs`): the fix is ``classes`` in ``submission.toml``;
- **another architecture** of the same family (``resnet50`` weights for ``resnet18``):
  :func:`guess_architecture` builds a few candidates on PyTorch's ``meta`` device (no
  memory, no weights, no download) and compares their tensor names and shapes with the
  file's, classifier left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_CANDIDATES = 16
"""Most architectures :func:`guess_architecture` builds (each a fraction of a second on ``meta``)."""


def classifier_prefix(module: Any) -> str | None:
    """The classifier's module path that timm reports (``fc``, ``head``, ``head.fc``), if any."""
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None) or {}
    name = cfg.get("classifier") if isinstance(cfg, Mapping) else getattr(cfg, "classifier", None)
    return name if isinstance(name, str) and name else None


def _shapes(sd: Mapping[str, Any], head: str | None) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, the classifier's tensors left out."""
    return {k: tuple(v.shape) for k, v in sd.items() if head is None or not k.startswith(f"{head}.")}


def head_outputs(module: Any, sd: Mapping[str, Any]) -> int | None:
    """The number of outputs ``sd`` was saved with, when only the classifier differs from ``module``.

    None when anything but the classifier's output dimension differs (or the module has
    no classifier timm knows of).
    """
    head = classifier_prefix(module)
    if head is None:
        return None
    expected = module.state_dict()
    if _shapes(expected, head) != _shapes(sd, head):
        return None
    weight = f"{head}.weight"
    if weight not in sd or weight not in expected or sd[weight].ndim < 1:
        return None
    if tuple(sd[weight].shape[1:]) != tuple(expected[weight].shape[1:]):
        return None
    return int(sd[weight].shape[0])


def family(name: str) -> str:
    """The leading letters of a timm name: ``resnet`` for ``resnet50d``, ``vit`` for ``vit_base_patch16_224``."""
    m = re.match(r"[A-Za-z]+", name)
    return m.group(0) if m else name


def candidates(name: str, limit: int = MAX_CANDIDATES) -> list[str]:
    """Other timm architectures of ``name``'s family, the plainest names first (at most ``limit``).

    Plain names (the family and a number: ``resnet50``) come first, then names closest to
    ``name`` (``vit_small_patch16_224`` for ``vit_base_patch16_224``), then by name.
    """
    import difflib

    import timm

    fam = family(name)
    found = [n for n in timm.list_models(f"{fam}*") if n != name and family(n) == fam]

    def key(n: str) -> tuple[int, float, str]:
        plain = 0 if re.fullmatch(r"\d+", n[len(fam):]) else 1
        return (plain, -difflib.SequenceMatcher(None, name, n).ratio(), n)

    return sorted(found, key=key)[:limit]


def guess_architecture(name: str, sd: Mapping[str, Any], limit: int = MAX_CANDIDATES) -> str | None:
    """A timm architecture of ``name``'s family whose tensors (classifier aside) match ``sd``.

    Candidates (:func:`candidates`) are built on the ``meta`` device; the first whose
    tensor names and shapes equal the file's, classifier left out, is returned; None
    when none does.
    """
    import timm
    import torch

    for cand in candidates(name, limit):
        try:
            with torch.device("meta"):
                module = timm.create_model(cand, pretrained=False)
        except (TypeError, ValueError, RuntimeError, AssertionError, NotImplementedError):
            continue
        head = classifier_prefix(module)
        if _shapes(module.state_dict(), head) == _shapes(sd, head):
            return cand
    return None
