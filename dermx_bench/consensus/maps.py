"""The forms a map takes when it is scored: a dense array, a binary RLE mask, a separable map.

:func:`dermx_bench.consensus.map_scores.score_map` needs only three things of a map ``A``
(values in [0, 1], (height, width), pixels in column-major order as COCO RLEs count
them, pixel ``(row, col)`` at ``col * height + row``):

- ``total``: Σ A;
- ``prefix(pos)``: Σ A over the pixels ``[0, pos)`` for each position (so Σ A over a run
  ``[start, stop)`` of a mask is ``prefix(stop) - prefix(start)``);
- ``min_max_runs(starts, stops, values)``: for each run ``[start_k, stop_k)`` (positive
  length) Σ ``min(A, v_k)`` and Σ ``max(A, v_k)`` over it (``v_k`` in (0, 1]; a fusion
  is constant on such runs).

Three forms give them:

- :class:`DenseMap`: an explanation map as an array (a model's map, upsampled to the
  photograph): column-major prefix sums of A and of min(A, v) for each value v asked for;
- :class:`BinaryMap`: a binary mask held as runs (a dermatologist's outline, or a map of
  ones or zeros): counts of ones from the runs, never decoded;
- :class:`SeparableMap`: ``A[row, col] = r[row] * c[col]`` with ``r`` symmetric and
  unimodal (a centred Gaussian): closed forms over column pieces, never materialised.

Each equals :class:`DenseMap` of its :meth:`to_array` up to float rounding (tests check
it); ``to_array`` is there for metrics that need every pixel, and ``map_stats`` gives the
saliency metrics' per-map precomputation (:class:`~dermx_bench.masks.saliency.MapStats`,
cached; from the runs of a binary map, without sorting).
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from dermx_bench.consensus.fusion import ones_runs
from dermx_bench.masks.rle import RLE
from dermx_bench.masks.saliency import MapStats

__all__ = ["ScoredMap", "DenseMap", "BinaryMap", "SeparableMap", "as_scored_map"]


class ScoredMap(Protocol):
    """What scoring needs of a map (see the module docstring)."""

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def total(self) -> float: ...

    def prefix(self, pos: np.ndarray) -> np.ndarray: ...

    def min_max_runs(
        self, starts: np.ndarray, stops: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def to_array(self) -> np.ndarray: ...

    def map_stats(self) -> MapStats: ...


class DenseMap:
    """A (height, width) float map held as an array (values in [0, 1])."""

    def __init__(self, a: np.ndarray) -> None:
        if a.ndim != 2:
            raise ValueError(f"expected a (height, width) map, got shape {a.shape}")
        self._a = a
        self.flat = np.asarray(a, dtype=np.float64).ravel(order="F")
        self._prefix = np.empty(self.flat.size + 1, dtype=np.float64)
        self._prefix[0] = 0.0
        np.cumsum(self.flat, out=self._prefix[1:])
        self._min_prefixes: dict[float, np.ndarray] = {}
        self._stats: MapStats | None = None

    @property
    def array(self) -> np.ndarray:
        """The map as given (its dtype kept)."""
        return self._a

    @property
    def size(self) -> tuple[int, int]:
        return (int(self._a.shape[0]), int(self._a.shape[1]))

    @property
    def total(self) -> float:
        return float(self._prefix[-1])

    def prefix(self, pos: np.ndarray) -> np.ndarray:
        return self._prefix[pos]

    def min_max_runs(
        self, starts: np.ndarray, stops: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # Σ min(A, v) over a run from the prefix sums of min(A, v), one array per distinct v
        # (a fusion takes few values: i / |R|); Σ max(A, v) = Σ A + v (stop - start) - Σ min(A, v)
        mins = np.empty(starts.size, np.float64)
        for v in np.unique(values):
            sel = values == v
            p = self._min_prefix(float(v))
            mins[sel] = p[stops[sel]] - p[starts[sel]]
        maxs = (self._prefix[stops] - self._prefix[starts]) + values * (stops - starts) - mins
        return mins, maxs

    def map_stats(self) -> MapStats:
        """The saliency metrics' precomputation of the array as given (its dtype kept)."""
        if self._stats is None:
            self._stats = MapStats.from_map(self._a)
        return self._stats

    def _min_prefix(self, v: float) -> np.ndarray:
        if v not in self._min_prefixes:
            p = np.empty(self.flat.size + 1, dtype=np.float64)
            p[0] = 0.0
            np.cumsum(np.minimum(self.flat, v), out=p[1:])
            self._min_prefixes[v] = p
        return self._min_prefixes[v]

    def to_array(self) -> np.ndarray:
        return np.asarray(self._a, dtype=np.float64)


class BinaryMap:
    """A binary (0/1) map held as its runs of ones in column-major order, never decoded."""

    def __init__(self, size: tuple[int, int], starts: np.ndarray, stops: np.ndarray) -> None:
        self._size = (int(size[0]), int(size[1]))
        self.starts = np.asarray(starts, np.int64)
        self.stops = np.asarray(stops, np.int64)
        before = np.concatenate(([0], np.cumsum(self.stops - self.starts)))  # ones before run k
        self._total = float(before[-1])
        self._xp = np.stack((self.starts, self.stops), axis=1).ravel().astype(np.float64)
        self._fp = np.stack((before[:-1], before[1:]), axis=1).ravel().astype(np.float64)
        self._stats: MapStats | None = None

    def map_stats(self) -> MapStats:
        """The saliency metrics' precomputation of the float32 0/1 map, from the runs (no sort)."""
        if self._stats is None:
            self._stats = MapStats.from_binary(self._size, self.starts, self.stops)
        return self._stats

    @classmethod
    def from_rle(cls, mask: RLE) -> BinaryMap:
        h, w = (int(v) for v in mask["size"])
        return cls((h, w), *ones_runs(mask, h * w))

    @classmethod
    def constant(cls, size: tuple[int, int], value: int) -> BinaryMap:
        """All ones (``value`` 1) or all zeros (``value`` 0); the same object for the same
        size and value while it is among the last few asked for (its :meth:`map_stats` too)."""
        if value not in (0, 1):
            raise ValueError(f"a binary map is 0 or 1 everywhere, got {value}")
        return _constant(int(size[0]), int(size[1]), value)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def total(self) -> float:
        return self._total

    def prefix(self, pos: np.ndarray) -> np.ndarray:
        # the count of ones before pos rises by 1 per pixel inside a run, flat between runs:
        # piecewise linear with slopes 0 and 1, so np.interp is exact on integer positions
        if self._xp.size == 0:
            return np.zeros(np.shape(pos), np.float64)
        return np.interp(pos, self._xp, self._fp, left=0.0, right=self._total)

    def min_max_runs(
        self, starts: np.ndarray, stops: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        ones = self.prefix(stops) - self.prefix(starts)
        # A in {0, 1}, v in (0, 1]: min(A, v) = v A and max(A, v) = A + v (1 - A)
        return values * ones, ones + values * ((stops - starts) - ones)

    def to_array(self) -> np.ndarray:
        h, w = self._size
        flat = np.zeros(h * w, np.float64)
        for s, e in zip(self.starts.tolist(), self.stops.tolist(), strict=True):
            flat[s:e] = 1.0
        return flat.reshape(w, h).T


@functools.lru_cache(maxsize=4)
def _constant(height: int, width: int, value: int) -> BinaryMap:
    n = height * width
    on = value == 1 and n > 0
    return BinaryMap((height, width), np.array([0] if on else [], np.int64), np.array([n] if on else [], np.int64))


class SeparableMap:
    """``A[row, col] = r[row] * c[col]`` with ``r``, ``c`` in [0, 1] and ``r`` symmetric
    (``r[i] == r[h - 1 - i]``) and non-decreasing up to its middle, e.g. a centred Gaussian.

    Sums over runs come from the cumulative sums of ``r`` and ``c``; min/max against a value
    ``v`` on a piece of a column ``col`` use that ``{row : c[col] r[row] >= v}`` is a
    centred interval of rows. Nothing of size height x width is made.
    """

    def __init__(self, r: np.ndarray, c: np.ndarray) -> None:
        r = np.asarray(r, np.float64)
        c = np.asarray(c, np.float64)
        h = r.size
        half = r[: (h + 1) // 2]
        if not np.array_equal(r, r[::-1]) or np.any(np.diff(half) < 0):
            raise ValueError("r must be symmetric and non-decreasing up to its middle")
        self.r, self.c = r, c
        self._half = half
        self._stats: MapStats | None = None
        self._rcum = np.concatenate(([0.0], np.cumsum(r)))
        self._ccum = np.concatenate(([0.0], np.cumsum(c)))
        self._cpad = np.concatenate((c, [0.0]))

    @property
    def size(self) -> tuple[int, int]:
        return (self.r.size, self.c.size)

    @property
    def total(self) -> float:
        return float(self._ccum[-1] * self._rcum[-1])

    def prefix(self, pos: np.ndarray) -> np.ndarray:
        j, i = np.divmod(np.asarray(pos, np.int64), self.r.size)
        return self._ccum[j] * self._rcum[-1] + self._cpad[j] * self._rcum[i]

    def min_max_runs(
        self, starts: np.ndarray, stops: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        h = self.r.size
        starts = np.asarray(starts, np.int64)
        stops = np.asarray(stops, np.int64)
        j0, j1 = starts // h, (stops - 1) // h
        n_cols = j1 - j0 + 1
        run = np.repeat(np.arange(starts.size), n_cols)
        j = j0[run] + (np.arange(int(n_cols.sum())) - np.repeat(np.cumsum(n_cols) - n_cols, n_cols))
        i0 = np.clip(starts[run] - j * h, 0, h)
        i1 = np.clip(stops[run] - j * h, 0, h)
        v = np.asarray(values, np.float64)[run]
        a = self.c[j]
        with np.errstate(divide="ignore"):
            t = np.where(a > 0, v / np.where(a > 0, a, 1.0), np.inf)
        p = np.searchsorted(self._half, t, side="left")  # rows p .. h-1-p have r >= t
        lo, hi = p, np.maximum(h - p, p)
        x0 = np.clip(i0, lo, hi)
        x1 = np.clip(i1, lo, hi)
        x1 = np.maximum(x1, x0)
        inside = a * (self._rcum[x1] - self._rcum[x0])
        piece = a * (self._rcum[i1] - self._rcum[i0])
        n_in = x1 - x0
        sum_min = v * n_in + (piece - inside)
        sum_max = inside + v * ((i1 - i0) - n_in)
        k = starts.size
        return np.bincount(run, weights=sum_min, minlength=k), np.bincount(run, weights=sum_max, minlength=k)

    def to_array(self) -> np.ndarray:
        return np.outer(self.r, self.c)

    def map_stats(self) -> MapStats:
        """The saliency metrics' precomputation of the map as float32 (as a model's map is)."""
        if self._stats is None:
            self._stats = MapStats.from_map(self.to_array().astype(np.float32))
        return self._stats


def as_scored_map(a: np.ndarray | ScoredMap) -> ScoredMap:
    """An array as a :class:`DenseMap`; a scored map as it is."""
    return DenseMap(a) if isinstance(a, np.ndarray) else a
