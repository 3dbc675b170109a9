"""Per-image precomputation for the saliency metrics: a map's sort order and a mask's pixels.

A map ``A`` is scored against many binary masks ``S`` (each characteristic x each rater,
fusions, the union). Everything the metrics need from ``A`` is computed once, by
:meth:`MapStats.from_map`, from one sort of its pixels: per pixel, its rank, its position
in the order of decreasing A and its threshold bin. A mask is reduced to
:class:`MaskPixels`, the sorted column-major indices of its pixels, built either from an
array or straight from a COCO RLE's runs (O(runs + |S|) work, no full-size array). Every
metric then reads the per-pixel arrays at those indices (contiguous slices, as RLE runs
are column-major): O(|S|) per mask.

Conventions: arrays are (height, width) indexed (row, col); "row-major" is C order (the
order ties are broken in, METHODS §9), "column-major" is COCO RLE order. A map's
*position order* lists its pixels by decreasing value, ties by increasing row-major index;
position 0 is a maximal pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dermx_bench.masks.rle import RLE
from dermx_bench.masks.rle import runs as rle_runs

__all__ = ["THRESHOLD_STEPS", "MapStats", "MaskPixels", "check_tolerance", "thresholds"]

THRESHOLD_STEPS = 100
"""best_dice/best_iou binarise ``A >= k / THRESHOLD_STEPS`` for k = 0, 1, ..., THRESHOLD_STEPS."""

_MAX_PIXELS = 2**30  # positions and doubled ranks are int32


def thresholds(dtype: np.dtype[Any] | type = np.float64) -> np.ndarray:
    """The thresholds t_k = k / 100, k = 0..100, rounded to the map's float ``dtype``.

    A float32 map is compared in float32 (``a >= t`` as numpy does it for a float32
    array ``a`` and a Python float ``t``), a float64 map in float64.
    """
    return (np.arange(THRESHOLD_STEPS + 1, dtype=np.float64) / THRESHOLD_STEPS).astype(dtype)


def check_tolerance(tolerance: int) -> int:
    """``tolerance`` as an int; ``ValueError`` unless it is a non-negative integer (pixels)."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | np.integer) or tolerance < 0:
        raise ValueError(f"tolerance must be a non-negative integer (pixels), got {tolerance!r}")
    return int(tolerance)


def _as_map(a: np.ndarray) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"expected a non-empty (height, width) map, got shape {arr.shape}")
    if arr.size >= _MAX_PIXELS:
        raise ValueError(f"map of {arr.size} pixels is too large (at most {_MAX_PIXELS - 1})")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.float32, np.float64):
        raise ValueError(f"expected a float32/float64 map (or bool/integer 0/1), got dtype {arr.dtype}")
    lo, hi = arr.min(), arr.max()
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"map values must be finite and in [0, 1], got min {lo} and max {hi}")
    # + 0 turns -0.0 into +0.0, whose bits sort first
    return np.ascontiguousarray(arr).ravel() + arr.dtype.type(0)


def _order_and_values(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-major indices in position order, and the map's values in that order."""
    f32 = flat if flat.dtype == np.float32 else flat.astype(np.float32)
    if f32 is flat or np.array_equal(f32, flat):
        # values >= +0.0 sort like their bit patterns: one uint64 sort of (~bits, index)
        key = ~f32.view(np.uint32)
        packed = (key.astype(np.uint64) << 32) | np.arange(flat.size, dtype=np.uint64)
        packed.sort()
        order = (packed & 0xFFFFFFFF).astype(np.intp)
        values = (~(packed >> 32).astype(np.uint32)).view(np.float32)
        return order, values.astype(flat.dtype, copy=False)
    order = np.argsort(-flat, kind="stable")  # float64 values that float32 cannot hold
    return order, flat[order]


def _tie_term(sizes: np.ndarray) -> int:
    """Σ (t³ - t) over the tie groups' sizes t, exactly (Python integers for large groups)."""
    tied = sizes[sizes > 1]
    big = tied > 65536  # below: t³ sums stay under 2**63 for up to 2**30 pixels
    small = tied[~big].astype(np.int64)
    total = int(np.sum(small * small * small - small))
    return total + sum(int(t) ** 3 - int(t) for t in tied[big])


@dataclass(frozen=True, eq=False)
class MapStats:
    """What the saliency metrics need from one map, computed once by :meth:`from_map`.

    Per-pixel arrays, (N,) in column-major (COCO RLE) pixel order, N = height * width:

    - ``flat``: the map's values, of ``dtype`` (float32 or float64, the precision the
      thresholds are compared in);
    - ``pos``: int32, the pixel's position in the order of decreasing A, ties by
      increasing row-major index (0..N-1);
    - ``rank2``: int32, twice the pixel's average rank among all pixels in increasing
      order (ranks 1..N, tied values share the mean of their ranks);
    - ``bins``: uint8, the largest k with t_k <= A (0..100), see :func:`thresholds`.

    Per map: ``shape`` (height, width); ``above``: int64 (101,), |{A >= t_k}|;
    ``n_max``: the number of pixels where A is maximal (positions 0..n_max-1) and
    ``max_index``: their sorted row-major indices, int64 (n_max,); ``total``: ΣA in float64,
    summed over ``flat``; ``rank_ss12``: 12 Σ (rank - (N + 1) / 2)² = N³ - N - Σ (t³ - t)
    over the tie groups' sizes t (an exact integer, 0 exactly when A is constant).
    """

    shape: tuple[int, int]
    dtype: np.dtype[Any]
    flat: np.ndarray
    pos: np.ndarray
    rank2: np.ndarray
    bins: np.ndarray
    above: np.ndarray
    n_max: int
    max_index: np.ndarray
    total: float
    rank_ss12: int
    _near: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_map(cls, a: np.ndarray) -> MapStats:
        """Precompute from ``a``: float32/float64 (height, width) in [0, 1] (bool or
        integer 0/1 maps are taken as float32). Raises ``ValueError`` on another shape,
        dtype, NaN or a value outside [0, 1]. Costs one sort of the N pixels (a fast
        uint64 sort of bit patterns and indices when float32 holds every value, a stable
        argsort otherwise).
        """
        flat_c = _as_map(a)
        h, w = np.shape(a)
        n = flat_c.size
        order, values = _order_and_values(flat_c)
        new = np.empty(n, dtype=bool)
        new[0] = True
        np.not_equal(values[1:], values[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n)
        sizes = ends - starts
        above = n - np.searchsorted(values[::-1], thresholds(values.dtype), side="left")
        pos_c = np.empty(n, dtype=np.int32)
        pos_c[order] = np.arange(n, dtype=np.int32)
        pos = pos_c.reshape(h, w).ravel(order="F")
        # a tie group at positions [i, j) holds ranks N-j+1 .. N-i: doubled mean 2N+1-i-j
        rank2 = np.repeat((2 * n + 1 - starts - ends).astype(np.int32), sizes)[pos]
        # positions [above[k+1], above[k]) pass thresholds 0..k
        bins = np.repeat(np.arange(THRESHOLD_STEPS, -1, -1, dtype=np.uint8),
                         np.diff(above[::-1], prepend=0))[pos]
        flat = flat_c.reshape(h, w).ravel(order="F")
        n_max = int(sizes[0])
        return cls(
            shape=(int(h), int(w)),
            dtype=flat.dtype,
            flat=flat,
            pos=pos,
            rank2=rank2,
            bins=bins,
            above=above.astype(np.int64),
            n_max=n_max,
            max_index=np.sort(order[:n_max]).astype(np.int64),
            total=float(np.sum(flat, dtype=np.float64)),
            rank_ss12=n**3 - n - _tie_term(sizes),
        )

    @classmethod
    def from_binary(cls, shape: tuple[int, int], starts: np.ndarray, stops: np.ndarray) -> MapStats:
        """What :meth:`from_map` gives the float32 0/1 map whose ones are the runs
        ``[starts[i], stops[i])`` (column-major, sorted, disjoint), without sorting: O(N).

        The position order is the ones then the zeros, each by increasing row-major index
        (a dermatologist's outline, or a map of ones or zeros, in the model's seat).
        """
        h, w = int(shape[0]), int(shape[1])
        n = h * w
        if n == 0 or n >= _MAX_PIXELS:
            raise ValueError(f"expected a non-empty map of fewer than {_MAX_PIXELS} pixels, got {h}x{w}")
        flat = np.zeros(n, np.float32)
        lengths = np.asarray(stops, np.int64) - np.asarray(starts, np.int64)
        if lengths.size:
            # +1 at each run start, -1 at each stop, then a running sum: 1 inside the runs
            edges = (np.bincount(np.asarray(starts, np.int64), minlength=n + 1)
                     - np.bincount(np.asarray(stops, np.int64), minlength=n + 1))
            flat[np.cumsum(edges[:-1]) > 0] = 1.0
        ones_rm = flat.reshape(w, h).T.ravel() > 0  # row-major
        n1 = int(ones_rm.sum())
        n0 = n - n1
        before = np.cumsum(ones_rm, dtype=np.int32)
        before -= ones_rm  # ones before each pixel in row-major order
        pos_rm = np.where(ones_rm, before, np.arange(n1, n1 + n, dtype=np.int32) - before)
        pos = pos_rm.reshape(h, w).ravel(order="F")
        ones = flat > 0
        rank2 = np.where(ones, np.int32(2 * n - n1 + 1), np.int32(n0 + 1))
        bins = ones.astype(np.uint8) * np.uint8(THRESHOLD_STEPS)
        above = np.full(THRESHOLD_STEPS + 1, n1, np.int64)
        above[0] = n
        n_max = n1 if n1 else n
        max_index = np.flatnonzero(ones_rm) if n1 else np.arange(n)
        return cls(
            shape=(h, w), dtype=np.dtype(np.float32), flat=flat, pos=pos, rank2=rank2, bins=bins, above=above,
            n_max=n_max, max_index=max_index.astype(np.int64), total=float(n1),
            rank_ss12=n**3 - n - _tie_term(np.array([n1, n0], np.int64)),
        )

    @classmethod
    def of(cls, a: np.ndarray | MapStats) -> MapStats:
        """``a`` itself when already precomputed, else :meth:`from_map`."""
        return a if isinstance(a, MapStats) else cls.from_map(a)

    @property
    def n_pixels(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def all_zero(self) -> bool:
        """The map is 0 everywhere."""
        return self.total == 0

    def near_max(self, tolerance: int) -> np.ndarray:
        """Sorted column-major indices (int64) of the pixels within ``tolerance`` pixels of
        a maximal pixel.

        Neighbourhood: the Euclidean disc, (Δrow)² + (Δcol)² <= tolerance², clipped to the
        image; ``tolerance`` 0 gives the maximal pixels. S dilated by the disc contains a
        maximal pixel exactly when S meets this set (the disc is symmetric). Cached per
        tolerance.
        """
        k = check_tolerance(tolerance)
        if k not in self._near:
            self._near[k] = self._dilate_max(k)
        return self._near[k]

    def _dilate_max(self, k: int) -> np.ndarray:
        from scipy.ndimage import distance_transform_edt

        if self.n_max == self.n_pixels:
            return np.arange(self.n_pixels, dtype=np.int64)
        h, w = self.shape
        rows, cols = np.divmod(self.max_index, w)
        r0, c0 = max(int(rows.min()) - k, 0), max(int(cols.min()) - k, 0)
        r1, c1 = min(int(rows.max()) + k + 1, h), min(int(cols.max()) + k + 1, w)
        crop = np.ones((r1 - r0, c1 - c0), dtype=bool)
        crop[rows - r0, cols - c0] = False
        # index of the nearest maximal pixel, then the exact integer squared distance
        near_r, near_c = distance_transform_edt(crop, return_distances=False, return_indices=True)
        rr, cc = np.indices(crop.shape)
        inside = (rr - near_r) ** 2 + (cc - near_c) ** 2 <= k * k
        c, r = np.nonzero(inside.T)  # column-major order
        return (c + c0).astype(np.int64) * h + (r + r0)


@dataclass(frozen=True, eq=False)
class MaskPixels:
    """The pixels of a binary mask S: ``index``, sorted int64 column-major flat indices
    (``col * height + row``), of an image of ``shape`` (height, width)."""

    shape: tuple[int, int]
    index: np.ndarray

    @property
    def area(self) -> int:
        return int(self.index.size)

    @classmethod
    def from_array(cls, s: np.ndarray) -> MaskPixels:
        """From a (height, width) mask: bool, or integer/float with values 0 and 1 only."""
        arr = np.asarray(s)
        if arr.ndim != 2:
            raise ValueError(f"expected a (height, width) mask, got shape {arr.shape}")
        if arr.dtype != np.bool_:
            if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
                raise ValueError(f"expected a bool or 0/1 mask, got dtype {arr.dtype}")
            if np.any((arr != 0) & (arr != 1)):
                raise ValueError("expected a binary mask (values 0 and 1 only)")
        index = np.flatnonzero(arr.ravel(order="F")).astype(np.int64, copy=False)
        return cls((int(arr.shape[0]), int(arr.shape[1])), index)

    @classmethod
    def from_rle(cls, rle: RLE) -> MaskPixels:
        """From a COCO RLE (``{"size": [height, width], "counts": ...}``) without decoding
        it to an array: the runs of ones become index ranges, O(runs + |S|)."""
        h, w = (int(v) for v in rle["size"])
        runs = rle_runs(rle)
        if runs.size == 0 or np.any(runs < 0) or int(runs.sum()) != h * w:
            raise ValueError(f"RLE runs do not cover the {h}x{w} pixels of its size")
        bounds = np.cumsum(runs)
        stops = bounds[1::2]
        return cls.from_runs((h, w), bounds[0::2][: stops.size], stops)

    @classmethod
    def from_runs(cls, shape: tuple[int, int], starts: np.ndarray, stops: np.ndarray) -> MaskPixels:
        """From runs of ones ``[starts[i], stops[i])`` in column-major pixel order (int
        arrays, sorted and disjoint, as a COCO RLE's runs are), O(runs + |S|)."""
        starts = np.asarray(starts, np.int64)
        lengths = np.asarray(stops, np.int64) - starts
        offsets = np.cumsum(lengths) - lengths
        index = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
        return cls((int(shape[0]), int(shape[1])), index)

    @classmethod
    def of(cls, s: np.ndarray | RLE | MaskPixels) -> MaskPixels:
        """``s`` itself, or from an RLE dict, or from an array."""
        if isinstance(s, MaskPixels):
            return s
        if isinstance(s, dict):
            return cls.from_rle(s)
        return cls.from_array(s)
