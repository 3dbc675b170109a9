"""The leaderboard as one model: the :class:`Board` every published format renders.

:func:`build_board` turns validated entries into a :class:`Board`: the reference rows
(from the entries' ``human_baseline``) and one row per entry in rank order, on the same
columns: union fuzzy F1 / sensitivity / specificity averaged over raters, each with its
bootstrap 95% interval, diagnostic accuracy and macro F1, and for the top entries the
paired bootstrap of the union-F1 difference with the next entry. The reference rows are

- the dermatologists, like for like (METHODS §8): each dermatologist's own explanation
  scored exactly as a model's map (the reference the entries are compared with);
- the dermatologists' rater-to-rater agreement (METHODS §6, DermX Table 3b), for reference;
- the trivial-map floors: maps that need no model, scored the same way.

Per localisable characteristic, F1 is a second table and sensitivity with specificity
(always together) a third. A model figure within its interval of a floor is marked
(:func:`~dermx_bench.stats.estimators.at_floor`). Number formatting and the notes under
the tables are shared by every format.

Each entry shows its coverage: images scored / images with a reference
(:attr:`dermx_bench.results.entry.Entry.coverage`). Entries below the maintainer's
``min_coverage`` (default 1: complete runs only) are listed apart, after the ranked
entries, as ``partial`` rows without a rank; entries too old to record their coverage
(schema < 3) are ranked as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dermx_bench import __version__
from dermx_bench.core.errors import InputError
from dermx_bench.core.names import ALL_METRIC_NAMES, METRIC_NAMES, UNION
from dermx_bench.leaderboard.ranking import (
    DEFAULT_ALPHA,
    DEFAULT_N_BOOT,
    DEFAULT_RANK_BY,
    DEFAULT_SEED,
    DEFAULT_TOP,
    Ranked,
    rank_entries,
)
from dermx_bench.results.baseline import NO_PAIRS, no_pairs_reason
from dermx_bench.results.entry import Entry
from dermx_bench.results.figures import (
    HumanBaseline,
    LocalisationScores,
    MetricStats,
    PairedResult,
    Stat,
)
from dermx_bench.stats.estimators import AT_FLOOR_MARK, floor_marks

HUMAN_NAME = "Dermatologists (like-for-like)"
PAIRWISE_NAME = "Dermatologists, rater to rater (\u00a76)"
FLOOR_PREFIX = "Trivial map: "
METRIC_LABEL = {"f1": "F1", "sensitivity": "Sensitivity", "specificity": "Specificity"}
DASH = "\u2013"
PER_CHARACTERISTIC = "f1"
"""The metric of the per-characteristic table (a balanced one; sensitivity and specificity
are shown together in a table of their own)."""


@dataclass(frozen=True)
class Row:
    """One line of the board: an entry (``rank`` set), a partial run or a reference row (``rank`` None).

    ``kind``: ``entry``, ``partial`` (below the coverage threshold), ``human``
    (like-for-like), ``pairwise`` (rater to rater) or ``floor``. ``union``: per metric;
    ``per_characteristic``: per metric and characteristic; ``at_floor``: per metric and
    characteristic (and ``union``), the floors an entry's figure is within its interval
    of (empty for reference rows).
    """

    kind: str
    rank: int | None
    name: str
    stem: str | None
    method: str
    target: str
    model: str
    union: dict[str, Stat | None]
    fusion: dict[str, Stat | None] | None
    accuracy: float | None
    macro_f1: float | None
    n_images: int | None
    n_all_zero_maps: int | None
    vs_next: PairedResult | None
    next_name: str | None
    per_characteristic: dict[str, dict[str, Stat | None]]
    authors: tuple[str, ...] = ()
    n_reference_images: int | None = None
    at_floor: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    compared_with: str | None = None
    n_constant_maps: int | None = None
    rank_value: Stat | None = None

    def significant(self, alpha: float) -> bool | None:
        return None if self.vs_next is None else self.vs_next.significant(alpha)

    def marked(self, metric: str, name: str = UNION) -> bool:
        """Whether the figure is within its interval of a trivial floor."""
        return bool(self.at_floor.get(metric, {}).get(name))


@dataclass
class Board:
    """Everything a published table shows, in display order (reference rows first)."""

    rows: list[Row]
    characteristics: list[str]
    content_hash: str
    baseline_options: dict[str, str]
    seed: int
    n_boot: int
    top: int | None
    alpha: float
    version: str = __version__
    entries: list[Entry] = field(default_factory=list)
    min_coverage: float = 1.0
    floors: dict[str, str] = field(default_factory=dict)
    no_pairs: dict[str, str] = field(default_factory=dict)
    """Characteristic -> why the dermatologists (the first reference row) have no pair on it."""
    rank_by: str = DEFAULT_RANK_BY

    @property
    def human(self) -> Row:
        return self.rows[0]

    @property
    def ranked(self) -> list[Row]:
        return [r for r in self.rows if r.kind == "entry"]

    @property
    def partial(self) -> list[Row]:
        """Entries below the coverage threshold, listed apart (no rank)."""
        return [r for r in self.rows if r.kind == "partial"]


def _ordered_characteristics(names: set[str]) -> list[str]:
    from dermx_bench.darwin.ontology import load_ontology

    try:
        return load_ontology().order(sorted(names))
    except InputError:
        return sorted(names)


def _by_metric(stats: Mapping[str, MetricStats], characteristics: list[str]) -> dict[str, dict[str, Stat | None]]:
    return {m: {c: (getattr(stats[c], m) if c in stats else None) for c in characteristics} for m in METRIC_NAMES}


def _reference_row(kind: str, name: str, stats: Mapping[str, MetricStats], characteristics: list[str],
                   human: HumanBaseline | None = None, fusion: MetricStats | None = None) -> Row:
    union = stats.get(UNION)
    return Row(
        kind=kind, rank=None, name=name, stem=None, method="", target="", model="",
        union={m: (None if union is None else getattr(union, m)) for m in ALL_METRIC_NAMES},
        fusion=None if fusion is None else {m: getattr(fusion, m) for m in METRIC_NAMES},
        accuracy=human.diagnosis.accuracy if human else None, macro_f1=human.diagnosis.macro_f1 if human else None,
        n_images=None, n_all_zero_maps=None, vs_next=None, next_name=None,
        per_characteristic=_by_metric(stats, characteristics),
    )


def _per_rater(figures: Mapping[str, LocalisationScores]) -> dict[str, MetricStats]:
    return {c: f.per_rater for c, f in figures.items()}


def build_board(
    entries: Sequence[Entry],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    top: int | None = DEFAULT_TOP,
    alpha: float = DEFAULT_ALPHA,
    min_coverage: float = 1.0,
    rank_by: str = DEFAULT_RANK_BY,
) -> Board:
    """Rank ``entries`` (one store, see ``validate``) and lay out the published rows.

    Entries whose coverage is below ``min_coverage`` are not ranked: they follow the
    ranked ones as ``partial`` rows, by union F1. The reference rows come from the
    ``human_baseline`` of the first entry that carries the like-for-like reference and
    floors (entry schema 4; entries of one store share them, ``validate`` checks that);
    when no entry does, from the first entry (the rater-to-rater row only). Raises
    ValueError for no entries or a ``min_coverage`` outside [0, 1].
    """
    if not entries:
        raise ValueError("no entries to publish")
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    complete = [e for e in entries if e.coverage is None or e.coverage >= min_coverage]
    ranked = rank_entries(complete, seed=seed, n_boot=n_boot, top=top, rank_by=rank_by)
    apart = [Ranked(0, r.entry, None, None)
             for r in rank_entries([e for e in entries if e not in complete], top=0, rank_by=rank_by)]
    chars: set[str] = set()
    for e in entries:
        chars |= set(e.localisation) - {UNION}
        chars |= set(e.human_baseline.localisation) - {UNION}
    characteristics = _ordered_characteristics(chars)
    listed = [*ranked, *apart]
    first = listed[0].entry
    hb = next((r.entry.human_baseline for r in listed if r.entry.human_baseline.like_for_like is not None),
              first.human_baseline)
    rows: list[Row] = []
    if hb.like_for_like is not None:
        like = hb.like_for_like
        rows.append(_reference_row("human", HUMAN_NAME, _per_rater(like), characteristics, hb,
                                   like[UNION].fusion if UNION in like else None))
    rows.append(_reference_row("pairwise", PAIRWISE_NAME, hb.localisation, characteristics,
                               None if hb.like_for_like is not None else hb))
    floors = hb.floors or {}
    for name, f in floors.items():
        rows.append(_reference_row("floor", f"{FLOOR_PREFIX}{name}", _per_rater(f.localisation), characteristics,
                                   fusion=f.localisation[UNION].fusion if UNION in f.localisation else None))
    for r in listed:
        e = r.entry
        loc = e.localisation
        model = _per_rater(loc)
        marks = {c: floor_marks({m: getattr(model[c], m) for m in METRIC_NAMES},
                                {n: {m: _floor_stat(f.localisation, c, m) for m in METRIC_NAMES}
                                 for n, f in floors.items()}) for c in model}
        at_floor = {m: {c: marks[c][m] for c in model} for m in METRIC_NAMES}
        rows.append(Row(
            kind="entry" if r.rank else "partial", rank=r.rank or None, name=e.name, stem=e.file_stem, method=e.method,
            target=e.target, model=e.submission.model or e.submission.entry_point or "",
            union={m: getattr(loc[UNION].per_rater, m) for m in ALL_METRIC_NAMES},
            fusion={m: getattr(loc[UNION].fusion, m) for m in METRIC_NAMES},
            accuracy=e.diagnosis.accuracy, macro_f1=e.diagnosis.macro_f1,
            n_images=e.n_images, n_all_zero_maps=e.n_all_zero_maps, n_constant_maps=e.n_constant_maps,
            vs_next=r.vs_next, next_name=r.next_name,
            per_characteristic=_by_metric(model, characteristics),
            authors=tuple(e.authors), n_reference_images=e.n_reference_images, at_floor=at_floor,
            compared_with=e.reference, rank_value=getattr(loc[UNION].per_rater, rank_by),
        ))
    reference = rows[0]
    no_pairs = {c: why for c in characteristics
                if (why := no_pairs_reason(reference.per_characteristic["f1"][c])) is not None}
    return Board(
        rows=rows, characteristics=characteristics, content_hash=first.store.content_hash,
        baseline_options=dict(first.store.baseline_options), seed=seed, n_boot=n_boot, top=top,
        alpha=alpha, entries=list(entries), min_coverage=min_coverage,
        floors={n: f.description for n, f in floors.items()}, no_pairs=no_pairs, rank_by=rank_by,
    )


def _floor_stat(figures: Mapping[str, LocalisationScores], characteristic: str, metric: str) -> Stat | None:
    return getattr(figures[characteristic].per_rater, metric) if characteristic in figures else None


# -- number formatting (shared by every format) -------------------------------------------


def fmt_num(v: float | None, digits: int = 3, none: str = DASH) -> str:
    return none if v is None else f"{v:.{digits}f}"


def fmt_stat(s: Stat | None, none: str = DASH) -> str:
    """``mean [ci_low, ci_high]`` (the interval left out when undefined)."""
    if s is None or s.mean is None:
        return none
    if s.ci_low is None or s.ci_high is None:
        return fmt_num(s.mean)
    return f"{s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]"


def fmt_p(p: float | None, none: str = DASH) -> str:
    if p is None:
        return none
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_vs_next(v: PairedResult | None, alpha: float, none: str = DASH) -> str:
    """``+0.051 [0.012, 0.090], p=0.012 *`` (``*``: significant at ``alpha``)."""
    if v is None or v.difference is None:
        return none
    text = f"{v.difference:+.3f}"
    if v.ci_low is not None and v.ci_high is not None:
        text += f" [{v.ci_low:+.3f}, {v.ci_high:+.3f}]"
    p = fmt_p(v.p_value, none="")
    if p:
        text += f", p{p if p.startswith('<') else '=' + p}"
        if v.significant(alpha):
            text += " *"
    return text


def fmt_options(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "defaults"


def method_label(row: Row) -> str:
    return f"{row.method} ({row.target})" if row.kind in ("entry", "partial") else ""


def fmt_coverage(row: Row, none: str = DASH) -> str:
    """``scored/with a reference (percent)``; just the images scored when the entry predates coverage."""
    if row.n_images is None:
        return none
    if not row.n_reference_images:
        return str(row.n_images)
    return f"{row.n_images}/{row.n_reference_images} ({100 * row.n_images / row.n_reference_images:.0f}%)"


MAIN_HEADERS = [
    "Rank", "Entry", "Method", "Images (coverage)", "Union F1 [95% CI]", "Union sensitivity [95% CI]",
    "Union specificity [95% CI]", "Diagnostic accuracy", "Diagnostic macro F1",
    "vs next: \u0394F1 [95% CI], p",
]


def mark(row: Row, metric: str, name: str = UNION) -> str:
    """`` †`` when the row's figure is within its interval of a trivial floor, else ''."""
    return f" {AT_FLOOR_MARK}" if row.marked(metric, name) else ""


def main_cells(row: Row, alpha: float, none: str = DASH) -> list[str]:
    """The cells of the main table for ``row`` (unescaped text)."""
    return [
        str(row.rank) if row.rank is not None else none,
        row.name,
        method_label(row) or none,
        fmt_coverage(row, none),
        *(fmt_stat(row.union[m], none) + mark(row, m) for m in METRIC_NAMES),
        fmt_num(row.accuracy, none=none),
        fmt_num(row.macro_f1, none=none),
        fmt_vs_next(row.vs_next, alpha, none),
    ]


def _no_pairs(row: Row, name: str) -> bool:
    """A dermatologists' row with no pair on characteristic ``name`` (see ``no_pairs_reason``)."""
    return row.kind in ("human", "pairwise") and no_pairs_reason(row.per_characteristic["f1"][name]) is not None


def char_cell(row: Row, metric: str, name: str, none: str = DASH) -> str:
    """A per-characteristic cell: the mean, marked when within its interval of a floor
    (``no pairs`` for the dermatologists where they have no pair on it)."""
    if _no_pairs(row, name):
        return NO_PAIRS
    s = row.per_characteristic[metric][name]
    return none if s is None or s.mean is None else f"{s.mean:.3f}{mark(row, metric, name)}"


def sens_spec_cell(row: Row, name: str, none: str = DASH) -> str:
    """Sensitivity and specificity together: ``0.550 / 0.912``, marked once when a floor reaches both."""
    if _no_pairs(row, name):
        return NO_PAIRS
    sens, spec = (row.per_characteristic[m][name] for m in ("sensitivity", "specificity"))
    text = " / ".join(none if s is None or s.mean is None else f"{s.mean:.3f}" for s in (sens, spec))
    return text + mark(row, "sensitivity", name)
