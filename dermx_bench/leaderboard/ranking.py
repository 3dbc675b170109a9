"""Ranking entries by union F1 and testing each rank with a paired bootstrap over images.

Entries are ranked by the mean union fuzzy F1 averaged over raters
(``localisation.union.per_rater.f1.mean``, the DermX benchmark protocol), higher first;
an undefined F1 ranks last; equal means share a rank (1, 2, 2, 4) and are listed by name.

For each of the ``top`` best entries, :func:`paired_bootstrap` compares it with the entry
ranked just below it over the images both scored (``per_image_union``, images where both
F1 values are defined): the per-image differences d_i = F1_upper − F1_lower are
resampled with replacement ``n_boot`` times with a fixed ``seed``; the interval is the
2.5–97.5 percentile of the resampled means, and the two-sided p value is
``min(1, 2 * min(#{mean* <= 0} + 1, #{mean* >= 0} + 1) / (n_boot + 1))``.
The rank is called significant when p < ``alpha`` (default 0.05).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dermx_bench.core.names import UNION
from dermx_bench.leaderboard.entry import Entry

DEFAULT_SEED = 0
DEFAULT_N_BOOT = 10_000
DEFAULT_TOP = 10
DEFAULT_ALPHA = 0.05
_CHUNK = 1000  # resamples drawn at once (bounds memory at _CHUNK x n_images floats)


@dataclass(frozen=True)
class PairedResult:
    """Paired bootstrap of the mean per-image difference ``upper − lower`` over shared images.

    ``difference`` is the observed mean difference (None when no image is shared);
    ``ci_low``/``ci_high``/``p_value`` are None with fewer than 2 shared images.
    """

    n_images: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None

    def significant(self, alpha: float = DEFAULT_ALPHA) -> bool | None:
        return None if self.p_value is None else self.p_value < alpha


def paired_bootstrap(
    upper: Mapping[str, float | None],
    lower: Mapping[str, float | None],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
) -> PairedResult:
    """Bootstrap the mean of ``upper[i] - lower[i]`` over images defined in both (see module doc).

    ``upper``/``lower`` map image names to a per-image score in [0, 1] or None (undefined,
    left out). Deterministic for a given ``seed`` and the set of shared images (images are
    taken in sorted order). Raises ValueError for ``n_boot < 1``.
    """
    import numpy as np

    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    shared = sorted(k for k in upper.keys() & lower.keys()
                    if upper[k] is not None and lower[k] is not None)
    n = len(shared)
    if n == 0:
        return PairedResult(0, None, None, None, None)
    d = np.array([float(upper[k]) - float(lower[k]) for k in shared], dtype=np.float64)  # type: ignore[arg-type]
    observed = float(d.mean())
    if n < 2:
        return PairedResult(n, observed, None, None, None)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    below = int(np.count_nonzero(means <= 0))
    above = int(np.count_nonzero(means >= 0))
    p = min(1.0, 2.0 * (min(below, above) + 1) / (n_boot + 1))
    return PairedResult(n, observed, float(lo), float(hi), p)


@dataclass(frozen=True)
class Ranked:
    """An entry with its rank and, for the top entries, the test against the next one."""

    rank: int
    entry: Entry
    vs_next: PairedResult | None
    next_name: str | None


def union_f1(entry: Entry) -> float | None:
    """The ranking key: mean union fuzzy F1 averaged over raters."""
    return entry.localisation[UNION].per_rater.f1.mean


def rank_entries(
    entries: Sequence[Entry],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    top: int | None = DEFAULT_TOP,
) -> list[Ranked]:
    """Entries in rank order; the first ``top`` (all when None) are tested against the next.

    The comparison uses each entry's ``per_image_union`` F1 (see module doc); the same
    ``seed`` is used for every pair, so publishing twice gives identical tables.
    """
    def key(e: Entry) -> tuple[int, float, str]:
        f1 = union_f1(e)
        return (1, 0.0, e.name) if f1 is None else (0, -f1, e.name)

    ordered = sorted(entries, key=key)
    out: list[Ranked] = []
    rank = 0
    for i, e in enumerate(ordered):
        if i == 0 or key(e)[:2] != key(ordered[i - 1])[:2]:
            rank = i + 1
        vs: PairedResult | None = None
        nxt: str | None = None
        if i + 1 < len(ordered) and (top is None or i < top):
            below = ordered[i + 1]
            nxt = below.name
            vs = paired_bootstrap(
                {k: v.f1 for k, v in e.per_image_union.items()},
                {k: v.f1 for k, v in below.per_image_union.items()},
                seed=seed, n_boot=n_boot,
            )
        out.append(Ranked(rank, e, vs, nxt))
    return out
