"""Numeric settings of the process that speed up model work on a CPU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormal floats to zero on the CPU while inside (restored to torch's default after).

    Small models trained on easy synthetic data drift into denormal weights and
    activations, which make CPU arithmetic tens of times slower.
    """
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
