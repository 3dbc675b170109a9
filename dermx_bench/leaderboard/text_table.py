"""The leaderboard as plain text for a terminal: aligned columns, no Markdown or HTML escapes.

The Markdown table (:mod:`.tables`) is for files that a renderer shows; on a terminal its
escapes (``p&lt;0.001``, ``\\[95% CI\\]``) read as noise. This table shows the main
columns that fit a terminal (:data:`TEXT_COLUMNS`), entry strings as they are (control
characters and line breaks folded to spaces), ranked entries, then partial runs apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from dermx_bench.leaderboard.board import MAIN_HEADERS, Board, main_cells
from dermx_bench.stats.estimators import AT_FLOOR_MARK

TEXT_COLUMNS = (
    "Rank", "Entry", "Method", "Images (coverage)", "Union F1 [95% CI]", "Diagnostic accuracy",
    "vs next: \u0394F1 [95% CI], p",
)
"""Main-table columns shown on a terminal (the full table: ``publish --format md`` or ``csv``)."""


def _plain(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> list[str]:
    """Lines of a table with a rule under the header; ``numeric`` columns right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render_text(board: Board) -> str:
    """The main leaderboard columns as an aligned plain-text table (partial runs listed apart)."""
    keep = [MAIN_HEADERS.index(h) for h in TEXT_COLUMNS if h in MAIN_HEADERS]
    header = [MAIN_HEADERS[i] for i in keep]
    numeric = [h in ("Rank", "Images (coverage)", "Diagnostic accuracy") for h in header]

    def cells(kind_partial: bool) -> list[list[str]]:
        return [[_plain(main_cells(r, board.alpha)[i]) for i in keep]
                for r in board.rows if (r.kind == "partial") == kind_partial]

    out = aligned(header, cells(False), numeric)
    if board.partial:
        out += ["", f"Partial runs (coverage below {100 * board.min_coverage:g}%; not ranked):",
                *aligned(header, cells(True), numeric)]
    floor = f" {AT_FLOOR_MARK} = within its interval of a trivial map's figure." if board.floors else ""
    out += ["", f"Ranked by union F1; 'vs next': paired bootstrap over shared images, * = p < {board.alpha}.{floor}",
            "Every column with notes: publish --format md (or csv, latex, html)."]
    return "\n".join(out) + "\n"
