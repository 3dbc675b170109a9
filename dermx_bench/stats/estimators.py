"""Every estimator behind a published figure: summaries, the bootstraps, the one comparison.

Which figure uses which estimator (METHODS §6, §8):

- **A model's localisation figure** (``entry.localisation.<c>.per_rater`` and ``.fusion``):
  :func:`image_stat` over images. Each image contributes one value (for ``per_rater``, the
  mean over the raters who drew ``c``); ``mean`` is the mean over images, ``std`` the
  sample std (ddof 1), and the 95% interval an **image bootstrap**: ``n_boot`` resamples
  of the images with replacement. ``n`` counts images.
- **The saved inter-rater baseline** (``baseline.<metric>``, ``human_baseline``):
  :func:`pooled_stat` over rater pairs. Every ordered pair (A, S) on every image is one
  value; ``mean`` is **pooled over pairs** (an image with more raters weighs more), ``std``
  the sample std (ddof 1) over pairs, and the interval a **cluster bootstrap**: images are
  resampled with replacement and every pair of a drawn image comes along. ``n`` counts
  pairs. The agreement tables' mean ± std use :func:`mean_std` (ddof 0 over raters or
  pairs for the diagnosis and presence tables, ddof 1 for the mask tables).
- **The like-for-like human reference and the trivial-map floors** (``human_baseline.
  like_for_like``, ``human_baseline.floors``): :func:`image_stat` over images, exactly as a
  model's figure (for the reference, each image's value is the mean over the raters put
  in the model's seat).
- **Model vs dermatologists** (``vs_baseline``, figures version 2 on): :func:`compare` of
  the model's mean over images with the like-for-like reference's mean over images (the
  same estimator on the same kind of map). Figures version 1 compared with the pairwise
  rater-to-rater table of METHODS §6 (mean pooled over pairs), which is not a reference
  for a model. The interval of each is shown beside it.
- **A model at a trivial floor** (tables): :func:`at_floor`, :func:`floor_marks`.
- **Run A vs run B** (``dermx-bench compare``, :mod:`dermx_bench.stats.paired`): the same
  :func:`paired_bootstrap` per characteristic and metric, :data:`COMPARE_N_BOOT` resamples.
- **A stratum of a run** (``dermx-bench analyse``, :mod:`dermx_bench.stats.strata`):
  :func:`image_stat` over the stratum's images.
- **One entry vs the next** (leaderboard ranks): :func:`paired_bootstrap`, the image
  bootstrap of the per-image union-F1 differences over the images both scored, with a
  two-sided p value.

Every bootstrap draws with ``numpy.random.default_rng(seed)`` and takes the interval as the
2.5 and 97.5 percentiles (linear interpolation) of the resampled means; the same seed
and values give the same figures bit for bit (the leaderboard re-checks them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from dermx_bench.results.figures import EMPTY_STAT, Comparison, PairedResult, Stat

DEFAULT_SEED = 0
"""Seed of every bootstrap unless given."""
DEFAULT_N_BOOT = 1000
"""Resamples of the intervals of a run's and the baseline's figures."""
PAIRED_N_BOOT = 10_000
"""Resamples of the leaderboard's paired test of each rank against the next."""
COMPARE_N_BOOT = 2000
"""Resamples of ``dermx-bench compare``'s paired bootstrap (every characteristic x metric)."""

_LEVELS = (0.025, 0.975)
"""Percentile levels of the image and paired bootstrap intervals."""
_CLUSTER_LEVELS = ((1 - 0.95) / 2, 1 - (1 - 0.95) / 2)
"""Percentile levels of the cluster bootstrap: (1 − 0.95)/2 is 0.025000000000000022 in float64.
Saved baselines were made with these; they are kept so that baselines reproduce bit for bit."""
_CHUNK = 1000
"""Resamples drawn at once (bounds memory at ``_CHUNK`` x n floats; the draws do not depend on it)."""


def defined(values: Iterable[Any]) -> np.ndarray:
    """The defined values as float64 (None and NaN dropped)."""
    v = np.array([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    return v[~np.isnan(v)]


def mean_std(values: np.ndarray, ddof: int) -> tuple[float, float]:
    """Mean and std (``ddof``) of the non-NaN values of a float array; NaN where undefined
    (no value; std also with ``ddof`` or fewer values)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    std = float(v.std(ddof=ddof)) if v.size > ddof else math.nan
    return mean, std


def _none(v: float) -> float | None:
    return None if math.isnan(v) else v


_CACHED_DRAWS = 4_000_000
"""Resample indices of one (seed, n, n_boot) kept for reuse when there are at most this many
(the many figures of one characteristic share them: 32 MB each at most, 8 kept)."""


@functools.lru_cache(maxsize=8)
def _draws(seed: int, n: int, n_boot: int) -> np.ndarray:
    """The (n_boot, n) resample indices ``default_rng(seed)`` draws, chunk by chunk as
    :func:`_resampled_means` draws them (read-only)."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.integers(0, n, size=(min(_CHUNK, n_boot - start), n))
                          for start in range(0, n_boot, _CHUNK)])
    idx.setflags(write=False)
    return idx


def _seeded_means(v: np.ndarray, seed: int, n_boot: int) -> np.ndarray:
    """:func:`_resampled_means` with ``default_rng(seed)``, the draws reused across calls
    when small (bit for bit the same means)."""
    if v.size * n_boot <= _CACHED_DRAWS:
        return v[_draws(seed, v.size, n_boot)].mean(axis=1)
    return _resampled_means(v, np.random.default_rng(seed), n_boot)


def _resampled_means(v: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``v`` (same size, with replacement), drawn in chunks."""
    n = v.size
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        means[start:stop] = v[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def _interval(means: np.ndarray, levels: tuple[float, float]) -> tuple[float, float]:
    lo, hi = np.quantile(means, list(levels))
    return float(lo), float(hi)


def image_stat(
    values: Iterable[Any], seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_N_BOOT, kind: type[Stat] = Stat
) -> Stat:
    """One value per image -> mean over images, sample std (ddof 1), image-bootstrap interval.

    ``values``: per-image floats (None/NaN = undefined there, left out). The interval is
    the 2.5/97.5 percentiles of the means of ``n_boot`` resamples of the images
    (``default_rng(seed)``), None when ``n_boot`` is 0. No defined value: :data:`EMPTY_STAT`
    (of ``kind``: :class:`~dermx_bench.results.figures.SignedStat` for a metric in [-1, 1]).
    """
    v = defined(values)
    if v.size == 0:
        return EMPTY_STAT if kind is Stat else kind(**EMPTY_STAT.model_dump())
    mean, std = mean_std(v, 1)
    lo: float | None = None
    hi: float | None = None
    if n_boot > 0:
        lo, hi = _interval(_seeded_means(v, seed, n_boot), _LEVELS)
    return kind(mean=mean, std=_none(std), ci_low=lo, ci_high=hi, n=int(v.size))


def cluster_bootstrap_ci(
    values: np.ndarray, groups: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the pooled mean, resampling groups (images).

    ``values``: float array (NaN = undefined, dropped); ``groups``: the group label of each
    value. Each resample draws as many groups as there are (with replacement) and pools
    all their values. Vectorised: one (n_boot, n_groups) count matrix.
    """
    v = np.asarray(values, np.float64)
    ok = ~np.isnan(v)
    if not ok.any():
        return None, None
    _, g = np.unique(np.asarray(groups)[ok], return_inverse=True)
    n_groups = int(g.max()) + 1
    sums = np.bincount(g, weights=v[ok], minlength=n_groups)
    counts = np.bincount(g, minlength=n_groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n_groups, size=(n_boot, n_groups))
    flat = (draw + (np.arange(n_boot) * n_groups)[:, None]).ravel()
    w = np.bincount(flat, minlength=n_boot * n_groups).reshape(n_boot, n_groups).astype(np.float64)
    return _interval((w @ sums) / (w @ counts), _CLUSTER_LEVELS)


def pooled_stat(
    values: np.ndarray, groups: np.ndarray, seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_N_BOOT
) -> Stat:
    """Values pooled across images (e.g. rater pairs) -> pooled mean, sample std (ddof 1),
    cluster-bootstrap interval over images (:func:`cluster_bootstrap_ci`); ``n`` counts values.

    ``values``: float array, NaN = undefined; ``groups``: the image of each value.
    """
    v = np.asarray(values, np.float64)
    mean, std = mean_std(v, 1)
    lo, hi = cluster_bootstrap_ci(v, groups, n_boot, seed)
    return Stat(mean=_none(mean), std=_none(std), ci_low=lo, ci_high=hi, n=int((~np.isnan(v)).sum()))


def paired_bootstrap(
    upper: Mapping[str, float | None],
    lower: Mapping[str, float | None],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = PAIRED_N_BOOT,
) -> PairedResult:
    """Paired image bootstrap of the mean of ``upper[i] - lower[i]`` over the shared images.

    ``upper``/``lower`` map image names to a per-image score or None (undefined, left
    out); images defined in both are taken in sorted order. The per-image differences are
    resampled like :func:`image_stat`'s values; the interval is their 2.5/97.5
    percentiles and the two-sided p value
    ``min(1, 2 * min(#{mean* <= 0} + 1, #{mean* >= 0} + 1) / (n_boot + 1))``.
    Deterministic for a given ``seed``. Raises ValueError for ``n_boot < 1``.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    shared = sorted(k for k, a in upper.items() if a is not None and lower.get(k) is not None)
    n = len(shared)
    if n == 0:
        return PairedResult(n_images=0, difference=None, ci_low=None, ci_high=None, p_value=None)
    d = np.array([float(upper[k]) - float(lower[k]) for k in shared], dtype=np.float64)  # type: ignore[arg-type]
    observed = float(d.mean())
    if n < 2:
        return PairedResult(n_images=n, difference=observed, ci_low=None, ci_high=None, p_value=None)
    means = _resampled_means(d, np.random.default_rng(seed), n_boot)
    lo, hi = _interval(means, _LEVELS)
    below = int(np.count_nonzero(means <= 0))
    above = int(np.count_nonzero(means >= 0))
    p = min(1.0, 2.0 * (min(below, above) + 1) / (n_boot + 1))
    return PairedResult(n_images=n, difference=observed, ci_low=lo, ci_high=hi, p_value=p)


def at_floor(value: Stat, floor: Stat | None) -> bool | None:
    """Whether a model's figure is within its interval of a trivial floor.

    True when the floor's mean is at or above the lower end of the figure's bootstrap 95%
    interval (the floor lies inside the interval, or above it): the model is not clearly
    better than a map that needs no model. Without an interval, the figure's mean is used.
    None when either mean is undefined.
    """
    if floor is None or floor.mean is None or value.mean is None:
        return None
    low = value.ci_low if value.ci_low is not None else value.mean
    return floor.mean >= low


def floors_reached(value: Stat, floors: Mapping[str, Stat | None]) -> list[str]:
    """The names of the floors ``value`` is within its interval of (:func:`at_floor`), in order."""
    return [name for name, f in floors.items() if at_floor(value, f)]


JUDGED_TOGETHER: tuple[str, str] = ("sensitivity", "specificity")
"""Metrics a trivial map wins alone (a map of ones has sensitivity 1, an all-zero map specificity 1):
they are shown together and a floor marks them only when it reaches the model on both."""


def floor_marks(values: Mapping[str, Stat], floors: Mapping[str, Mapping[str, Stat | None]]) -> dict[str, list[str]]:
    """Per metric, the floors a model's figures are within their interval of (:func:`at_floor`).

    ``values``: metric -> the model's figure; ``floors``: floor name -> metric -> the floor's
    figure. A metric is judged alone, except those of :data:`JUDGED_TOGETHER`: a floor marks
    them when it is within reach on each of them.
    """
    out = {m: floors_reached(v, {n: f.get(m) for n, f in floors.items()}) for m, v in values.items()}
    pair = [m for m in JUDGED_TOGETHER if m in out]
    if len(pair) == len(JUDGED_TOGETHER):
        both = [n for n in out[pair[0]] if all(n in out[m] for m in pair[1:])]
        out.update({m: both for m in pair})
    return out


AT_FLOOR_MARK = "\u2020"
"""The mark (a dagger) beside a figure within its interval of a trivial floor."""

AT_FLOOR_NOTE = (
    f"{AT_FLOOR_MARK} = within its interval of a trivial floor: the mean of a trivial map (a map of ones, "
    "a centred Gaussian or an all-zero map, scored the same way on the same images) is at or above the "
    "lower end of the model's bootstrap 95% interval, so the model is not clearly better on this metric "
    "than a map that needs no model. Sensitivity and specificity are judged together (a map of ones has "
    "sensitivity 1, an all-zero map specificity 1): marked when one trivial map is within reach on both."
)
"""The note that defines :data:`AT_FLOOR_MARK` wherever it is shown."""


def compare(value: float | None, reference: float | None) -> Comparison:
    """The one comparison rule: ``difference`` = value − reference, ``ratio`` = value / reference.

    Both None when either is undefined; ``ratio`` None when the reference is 0.
    """
    if value is None or reference is None:
        return Comparison(difference=None, ratio=None)
    return Comparison(difference=value - reference, ratio=(value / reference) if reference != 0 else None)

