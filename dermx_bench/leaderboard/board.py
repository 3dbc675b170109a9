"""The leaderboard as one model: the :class:`Board` every published format renders.

:func:`build_board` turns validated entries into a :class:`Board`: the dermatologists'
row (inter-rater agreement, from the entries' ``human_baseline``) and one row per entry
in rank order, on the same columns: union fuzzy F1 / sensitivity / specificity averaged
over raters, each with its bootstrap 95% interval, diagnostic accuracy and macro F1, and
for the top entries the paired bootstrap of the union-F1 difference with the next entry.
The sensitivity per localisable characteristic is a second table. Number formatting and
the notes under the tables are shared by every format.

Each entry shows its coverage: images scored / images with a reference
(:attr:`dermx_bench.results.entry.Entry.coverage`). Entries below the maintainer's
``min_coverage`` (default 1: complete runs only) are listed apart, after the ranked
entries, as ``partial`` rows without a rank; entries too old to record their coverage
(schema < 3) are ranked as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dermx_bench import __version__
from dermx_bench.core.errors import InputError
from dermx_bench.core.names import METRIC_NAMES, UNION
from dermx_bench.leaderboard.ranking import (
    DEFAULT_ALPHA,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    DEFAULT_TOP,
    Ranked,
    rank_entries,
)
from dermx_bench.results.entry import Entry
from dermx_bench.results.figures import PairedResult, Stat

HUMAN_NAME = "Dermatologists (inter-rater)"
METRIC_LABEL = {"f1": "F1", "sensitivity": "Sensitivity", "specificity": "Specificity"}
DASH = "\u2013"


@dataclass(frozen=True)
class Row:
    """One line of the board: an entry (``rank`` set), a partial run or the dermatologists (``rank`` None)."""

    kind: str  # "entry" | "partial" | "human"
    rank: int | None
    name: str
    stem: str | None
    method: str
    target: str
    model: str
    union: dict[str, Stat]
    fusion: dict[str, Stat] | None
    accuracy: float | None
    macro_f1: float | None
    n_images: int | None
    n_all_zero_maps: int | None
    vs_next: PairedResult | None
    next_name: str | None
    sensitivity: dict[str, Stat | None]
    authors: tuple[str, ...] = ()
    n_reference_images: int | None = None

    def significant(self, alpha: float) -> bool | None:
        return None if self.vs_next is None else self.vs_next.significant(alpha)


@dataclass
class Board:
    """Everything a published table shows, in display order (dermatologists first)."""

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


def build_board(
    entries: Sequence[Entry],
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    top: int | None = DEFAULT_TOP,
    alpha: float = DEFAULT_ALPHA,
    min_coverage: float = 1.0,
) -> Board:
    """Rank ``entries`` (one store, see ``validate``) and lay out the published rows.

    Entries whose coverage is below ``min_coverage`` are not ranked: they follow the
    ranked ones as ``partial`` rows, by union F1. The dermatologists' row is taken from
    the first entry's ``human_baseline`` (entries of one store share it; ``validate``
    checks that). Raises ValueError for no entries or a ``min_coverage`` outside [0, 1].
    """
    if not entries:
        raise ValueError("no entries to publish")
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage}")
    complete = [e for e in entries if e.coverage is None or e.coverage >= min_coverage]
    ranked = rank_entries(complete, seed=seed, n_boot=n_boot, top=top)
    apart = [Ranked(0, r.entry, None, None) for r in rank_entries([e for e in entries if e not in complete], top=0)]
    chars: set[str] = set()
    for e in entries:
        chars |= set(e.localisation) - {UNION}
        chars |= set(e.human_baseline.localisation) - {UNION}
    characteristics = _ordered_characteristics(chars)
    first = (ranked or apart)[0].entry
    hb = first.human_baseline
    human = Row(
        kind="human", rank=None, name=HUMAN_NAME, stem=None, method="", target="", model="",
        union={m: getattr(hb.localisation[UNION], m) for m in METRIC_NAMES}, fusion=None,
        accuracy=hb.diagnosis.accuracy, macro_f1=hb.diagnosis.macro_f1,
        n_images=None, n_all_zero_maps=None, vs_next=None, next_name=None,
        sensitivity={c: (hb.localisation[c].sensitivity if c in hb.localisation else None)
                     for c in characteristics},
    )
    rows = [human]
    for r in [*ranked, *apart]:
        e = r.entry
        loc = e.localisation
        rows.append(Row(
            kind="entry" if r.rank else "partial", rank=r.rank or None, name=e.name, stem=e.file_stem, method=e.method,
            target=e.target, model=e.submission.model or e.submission.entry_point or "",
            union={m: getattr(loc[UNION].per_rater, m) for m in METRIC_NAMES},
            fusion={m: getattr(loc[UNION].fusion, m) for m in METRIC_NAMES},
            accuracy=e.diagnosis.accuracy, macro_f1=e.diagnosis.macro_f1,
            n_images=e.n_images, n_all_zero_maps=e.n_all_zero_maps,
            vs_next=r.vs_next, next_name=r.next_name,
            sensitivity={c: (loc[c].per_rater.sensitivity if c in loc else None)
                         for c in characteristics},
            authors=tuple(e.authors), n_reference_images=e.n_reference_images,
        ))
    return Board(
        rows=rows, characteristics=characteristics, content_hash=first.store.content_hash,
        baseline_options=dict(first.store.baseline_options), seed=seed, n_boot=n_boot, top=top,
        alpha=alpha, entries=list(entries), min_coverage=min_coverage,
    )


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


def stat_mean(s: Stat | None) -> float | None:
    return None if s is None else s.mean


def fmt_options(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "defaults"


def method_label(row: Row) -> str:
    return f"{row.method} ({row.target})" if row.kind != "human" else ""


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


def main_cells(row: Row, alpha: float, none: str = DASH) -> list[str]:
    """The cells of the main table for ``row`` (unescaped text)."""
    return [
        str(row.rank) if row.rank is not None else none,
        row.name,
        method_label(row) or none,
        fmt_coverage(row, none),
        *(fmt_stat(row.union[m], none) for m in METRIC_NAMES),
        fmt_num(row.accuracy, none=none),
        fmt_num(row.macro_f1, none=none),
        fmt_vs_next(row.vs_next, alpha, none),
    ]


def board_notes(board: Board) -> list[str]:
    top = "every entry" if board.top is None else f"the top {board.top} entries"
    return [
        "Union = all localisable characteristics together; fuzzy F1/sensitivity/specificity of "
        "the explanation map against each dermatologist's mask, averaged over the raters who drew "
        "it (DermX protocol), then over images; [95% CI] = bootstrap interval over images.",
        f"{HUMAN_NAME}: the dermatologists scored against each other on the same columns.",
        "Images (coverage) = images scored / images with a reference (and a gold diagnosis, for the gold "
        f"target). Only runs covering at least {100 * board.min_coverage:g}% of them are ranked"
        + (f"; {len(board.partial)} partial run(s) are listed apart, unranked." if board.partial else "."),
        f"Ranked by union F1. 'vs next': for {top}, the mean per-image union-F1 difference with "
        f"the entry ranked below over their shared images, paired bootstrap "
        f"({board.n_boot} resamples, seed {board.seed}), two-sided p; * = p < {board.alpha}.",
        f"Store content hash {board.content_hash}; baseline options: "
        f"{fmt_options(board.baseline_options)}. Generated by dermx-bench {board.version}.",
    ]
