"""What every explanation method returns, and the rules that make its maps comparable.

- :class:`CamOutput`: ``maps`` float32 (B, h, w) in [0, 1] on any grid that covers
  the model input uniformly (a CAM's feature grid, or the input's own pixels), the
  ``logits`` computed on the way and the ``targets`` explained.
- :func:`normalise_maps` (METHODS §7): ReLU, then divide each map by its maximum; an
  all-zero map stays zero.
- :func:`attribution_maps` (METHODS §10): signed per-pixel, per-channel attributions
  (B, C, H, W) become one map per image: sum over channels, keep the positive part
  (evidence for the target class), divide by the maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermx_bench.core.errors import SubmissionError

Targets = Sequence[int] | Callable[[np.ndarray], Sequence[int]]
"""One class index per image, or a function of the logits (float32 (B, K)) giving them."""


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


def attribution_maps(attributions: Any) -> np.ndarray:
    """(B, C, H, W) signed attributions (tensor or array) -> float32 (B, H, W) in [0, 1] (§10)."""
    arr = attributions.detach().float().cpu().numpy() if hasattr(attributions, "detach") else attributions
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 4:
        raise ValueError(f"expected attributions of shape (B, C, H, W), got {arr.shape}")
    return normalise_maps(arr.sum(axis=1))


def resolve_targets(targets: Targets, logits: np.ndarray) -> np.ndarray:
    """int64 (B,) class indices from a sequence or a function of the logits."""
    t = targets(logits) if callable(targets) else targets
    arr = np.asarray(list(t), dtype=np.int64)
    if arr.shape != (logits.shape[0],):
        raise ValueError(f"expected one target per image ({logits.shape[0]}), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= logits.shape[1]):
        raise ValueError(f"target outside 0..{logits.shape[1] - 1}: {arr.tolist()}")
    return arr
