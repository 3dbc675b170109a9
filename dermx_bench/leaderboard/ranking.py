"""Ranking entries by a union metric and testing each rank with a paired bootstrap over images.

Entries are ranked by the mean union fuzzy F1 averaged over raters
(``localisation.union.per_rater.f1.mean``, the DermX benchmark protocol) unless the
maintainer chooses another localisation metric (``rank_by``: any of
:data:`~dermx_bench.core.names.ALL_METRIC_NAMES`), higher first; an undefined value (or a
metric the entry's figures version did not compute) ranks last; equal means share a rank
(1, 2, 2, 4) and are listed by name.

For each of the ``top`` best entries, :func:`dermx_bench.stats.estimators.paired_bootstrap`
compares it with the entry ranked just below it over the images both scored
(``per_image_union`` F1, images where both are defined): the per-image differences
F1_upper − F1_lower are resampled ``n_boot`` times with a fixed ``seed``, giving an
interval and a two-sided p value. The rank is called significant when p < ``alpha``
(default 0.05).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import ALL_METRIC_NAMES, UNION
from dermx_bench.results.entry import Entry
from dermx_bench.results.figures import PairedResult
from dermx_bench.stats.estimators import DEFAULT_SEED, PAIRED_N_BOOT, paired_bootstrap

DEFAULT_N_BOOT = PAIRED_N_BOOT
DEFAULT_TOP = 10
DEFAULT_ALPHA = 0.05
DEFAULT_RANK_BY = "f1"
"""The ranking metric unless the maintainer chooses another (``publish --rank-by``)."""


@dataclass(frozen=True)
class Ranked:
    """An entry with its rank and, for the top entries, the test against the next one."""

    rank: int
    entry: Entry
    vs_next: PairedResult | None
    next_name: str | None


def union_f1(entry: Entry) -> float | None:
    """The default ranking key: mean union fuzzy F1 averaged over raters."""
    return entry.localisation[UNION].per_rater.f1.mean


def union_mean(entry: Entry, metric: str) -> float | None:
    """``localisation.union.per_rater.<metric>.mean`` (None when undefined, or for an entry
    made before the metric was computed: figures version < 3 for the saliency metrics)."""
    stat = getattr(entry.localisation[UNION].per_rater, metric)
    return None if stat is None else stat.mean


def check_rank_by(metric: str) -> str:
    """``metric`` when it is a localisation metric; InputError naming ``--rank-by`` otherwise."""
    if metric not in ALL_METRIC_NAMES:
        raise InputError("--rank-by", "", f"unknown metric {metric!r}; choose from {', '.join(ALL_METRIC_NAMES)}")
    return metric


def rank_entries(
    entries: Sequence[Entry],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    top: int | None = DEFAULT_TOP,
    rank_by: str = DEFAULT_RANK_BY,
) -> list[Ranked]:
    """Entries in rank order by the union mean of ``rank_by`` (higher first; undefined or
    not computed last); the first ``top`` (all when None) are tested against the next.

    The comparison uses each entry's ``per_image_union`` values of ``rank_by`` (see module
    doc); the same ``seed`` is used for every pair, so publishing twice gives identical tables.
    """
    check_rank_by(rank_by)

    def key(e: Entry) -> tuple[int, float, str]:
        v = union_mean(e, rank_by)
        return (1, 0.0, e.name) if v is None else (0, -v, e.name)

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
                {k: getattr(v, rank_by) for k, v in e.per_image_union.items()},
                {k: getattr(v, rank_by) for k, v in below.per_image_union.items()},
                seed=seed, n_boot=n_boot,
            )
        out.append(Ranked(rank, e, vs, nxt))
    return out
