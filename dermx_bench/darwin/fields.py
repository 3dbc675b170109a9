"""Checked access to the fields of one Darwin JSON document, with located errors.

Every failure is an :class:`~dermx_bench.core.errors.InputError` naming the file,
the place in it (``annotations[3] ('Plaque').polygon.paths[0][2].x``) and what was
expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dermx_bench.core.errors import InputError
from dermx_bench.core.limits import MAX_IMAGE_SIDE
from dermx_bench.darwin.records import Ring


def finite(v: Any) -> bool:
    """Whether ``v`` is a JSON number (not a bool) that a float64 holds finitely."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond float64
        return False


class Fields:
    """Helpers that read and check values of the file ``label``."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, what: str) -> InputError:
        return InputError(self.label, where, what)

    def obj(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, f"expected an object, got {type(v).__name__}")
        return v

    def lst(self, v: Any, where: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(where, f"expected a list, got {type(v).__name__}")
        return v

    def number(self, v: Any, where: str, *, minimum: float | None = None) -> float:
        """A finite number (not a bool), at least ``minimum`` when given."""
        if not finite(v):
            raise self.fail(where, f"expected a finite number, got {_short(v)}")
        if minimum is not None and v < minimum:
            raise self.fail(where, f"expected a number >= {minimum:g}, got {_short(v)}")
        return float(v)

    def size(self, v: Any, where: str) -> int:
        if not finite(v) or v <= 0 or int(v) != v:
            raise self.fail(where, f"expected a positive integer, got {_short(v)}")
        return int(v)

    def image_size(self, height: int, width: int, where: str, max_pixels: int) -> None:
        """Refuse an image wider or taller than :data:`MAX_IMAGE_SIDE` or of more than ``max_pixels``."""
        if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE:
            raise self.fail(where, f"expected a width and height of at most {MAX_IMAGE_SIDE} pixels, "
                                   f"got {width}x{height}")
        if height * width > max_pixels:
            raise self.fail(where, f"a {width}x{height} image has {height * width} pixels, more than the limit "
                                   f"of {max_pixels}; pass --max-image-pixels to raise it")

    def point(self, v: Any, where: str) -> tuple[float, float]:
        """An ``{"x": number, "y": number}`` object."""
        p = self.obj(v, where)
        return self.number(p.get("x"), f"{where}.x"), self.number(p.get("y"), f"{where}.y")

    def ring(self, v: Any, where: str) -> Ring:
        pts = self.lst(v, where)
        try:  # fast path: a list of {"x": number, "y": number}
            xs = [p["x"] for p in pts]
            ys = [p["y"] for p in pts]
        except (TypeError, KeyError):
            xs = ys = []
        if len(xs) == len(pts) and {type(c) for c in xs} | {type(c) for c in ys} <= {int, float}:
            try:
                ok = all(map(math.isfinite, xs)) and all(map(math.isfinite, ys))
            except OverflowError:  # an integer beyond float64: the slow path names it
                ok = False
            if ok:
                if len(pts) < 3:
                    raise self.fail(where, f"expected a ring of at least 3 points, got {len(pts)}")
                return np.array((xs, ys), dtype=np.float64).T.copy()
        out = [self.point(pt, f"{where}[{i}]") for i, pt in enumerate(pts)]  # names the first bad vertex
        if len(out) < 3:
            raise self.fail(where, f"expected a ring of at least 3 points, got {len(out)}")
        return np.array(out, dtype=np.float64).reshape(-1, 2)


def _short(v: Any, limit: int = 60) -> str:
    """``repr(v)`` cut to ``limit`` characters (a huge number or a deep list stays readable)."""
    try:
        text = repr(v)
    except (RecursionError, ValueError):  # ValueError: an int too long for repr
        return f"a {type(v).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
