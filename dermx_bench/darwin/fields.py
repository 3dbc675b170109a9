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
from dermx_bench.darwin.records import Ring


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
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(where, f"expected a finite number, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.fail(where, f"expected a number >= {minimum:g}, got {v!r}")
        return float(v)

    def size(self, v: Any, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise self.fail(where, f"expected a positive integer, got {v!r}")
        if int(v) != v:
            raise self.fail(where, f"expected a positive integer, got {v!r}")
        return int(v)

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
            if all(map(math.isfinite, xs)) and all(map(math.isfinite, ys)):
                if len(pts) < 3:
                    raise self.fail(where, f"expected a ring of at least 3 points, got {len(pts)}")
                return np.array((xs, ys), dtype=np.float64).T.copy()
        out = [self.point(pt, f"{where}[{i}]") for i, pt in enumerate(pts)]  # names the first bad vertex
        if len(out) < 3:
            raise self.fail(where, f"expected a ring of at least 3 points, got {len(out)}")
        return np.array(out, dtype=np.float64).reshape(-1, 2)
