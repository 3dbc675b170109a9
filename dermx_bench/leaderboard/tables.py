"""Leaderboard tables: the :class:`~dermx_bench.leaderboard.board.Board` as Markdown, CSV or LaTeX.

Every string taken from an entry is escaped for the output format: Markdown (HTML
entities for ``& < >`` and backslashes before Markdown punctuation and ``|``), CSV
(quoted by the csv module; a text cell starting with ``= + - @`` gets a leading ``'`` so
spreadsheets do not run it as a formula), LaTeX (``\\ & % $ # _ { } ~ ^ [ ] < > |``).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable

from dermx_bench.core.names import METRIC_NAMES, SALIENCY_METRIC_NAMES, UNION
from dermx_bench.leaderboard.board import (
    MAIN_HEADERS,
    METRIC_LABEL,
    PER_CHARACTERISTIC,
    Board,
    Row,
    char_cell,
    main_cells,
    sens_spec_cell,
)
from dermx_bench.leaderboard.board_notes import board_notes
from dermx_bench.results.figures import Stat
from dermx_bench.stats.estimators import AT_FLOOR_NOTE

# -- Markdown -----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell: HTML entities, then Markdown punctuation."""
    text = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def render_markdown(board: Board) -> str:
    """The leaderboard as GitHub-flavoured Markdown (for ``leaderboard/README.md``)."""
    out = ["# DermX explanation leaderboard", ""]
    header = ["| " + " | ".join(MAIN_HEADERS) + " |", "|---:|---|---|---:|---|---|---|---:|---:|---|"]

    def md_row(row: Row) -> str:
        cells = main_cells(row, board.alpha)
        # entry strings get full escaping; the figures are ours and only need HTML entities
        shown = [md_escape(c) if i in (1, 2) else html.escape(c, quote=False)
                 for i, c in enumerate(cells)]
        return "| " + " | ".join(shown) + " |"

    out += header + [md_row(r) for r in board.rows if r.kind != "partial"]
    if board.partial:
        out += ["", f"## Partial runs (coverage below {100 * board.min_coverage:g}%; not ranked)", ""]
        out += header + [md_row(r) for r in board.partial]
    label = METRIC_LABEL[PER_CHARACTERISTIC]
    out += ["", f"## {label} per characteristic", ""]
    out += _md_char_table(board, lambda row, c: char_cell(row, PER_CHARACTERISTIC, c))
    out += ["", f"{label} averaged over raters (mean over images); intervals are in the CSV and on the site.",
            "", "## Sensitivity / specificity per characteristic", ""]
    out += _md_char_table(board, lambda row, c: sens_spec_cell(row, c))
    out += ["", "Sensitivity / specificity averaged over raters (mean over images), always shown together: "
            "a map of ones has sensitivity 1 and an all-zero map specificity 1.", ""]
    for note in board_notes(board):
        out += [md_escape(note), ""]
    return "\n".join(out)


def _md_char_table(board: Board, cell: Callable[[Row, str], str]) -> list[str]:
    out = ["| Entry | " + " | ".join(md_escape(c) for c in board.characteristics) + " |",
           "|---|" + "---:|" * len(board.characteristics)]
    for row in board.rows:
        vals = [html.escape(cell(row, c), quote=False) for c in board.characteristics]
        out.append("| " + " | ".join([md_escape(row.name), *vals]) + " |")
    return out


# -- CSV ----------------------------------------------------------------------------------


def csv_text(text: str) -> str:
    """Guard a text cell against spreadsheet formula injection."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _stat_cols(prefix: str, s: Stat | None) -> dict[str, object]:
    if s is None:
        return {f"{prefix}_{k}": "" for k in ("mean", "std", "ci_low", "ci_high", "n")}
    return {f"{prefix}_{k}": ("" if getattr(s, k) is None else getattr(s, k))
            for k in ("mean", "std", "ci_low", "ci_high", "n")}


def _num(v: float | int | None) -> object:
    return "" if v is None else v


def csv_records(board: Board) -> list[dict[str, object]]:
    """One flat record per row (dermatologists first); undefined values are ''."""
    records: list[dict[str, object]] = []
    for row in board.rows:
        rec: dict[str, object] = {
            "rank": _num(row.rank), "kind": row.kind, "name": csv_text(row.name),
            "authors": csv_text("; ".join(row.authors)), "method": csv_text(row.method),
            "target": row.target, "model": csv_text(row.model),
            "n_images": _num(row.n_images), "n_reference_images": _num(row.n_reference_images),
            "coverage": _num(row.n_images / row.n_reference_images
                             if row.n_images is not None and row.n_reference_images else None),
            "n_all_zero_maps": _num(row.n_all_zero_maps),
            "n_constant_maps": _num(row.n_constant_maps),
            "compared_with": row.compared_with or "",
        }
        for m in METRIC_NAMES:
            rec.update(_stat_cols(f"union_{m}", row.union[m]))
            rec[f"union_{m}_at_floor"] = ";".join(row.at_floor.get(m, {}).get(UNION, []))
        for m in SALIENCY_METRIC_NAMES:
            rec.update(_stat_cols(f"union_{m}", row.union[m]))
        for m in METRIC_NAMES:
            rec.update(_stat_cols(f"union_fusion_{m}", row.fusion[m] if row.fusion else None))
        rec["accuracy"] = _num(row.accuracy)
        rec["macro_f1"] = _num(row.macro_f1)
        v = row.vs_next
        rec.update({
            "vs_next_name": csv_text(row.next_name or ""),
            "vs_next_n_images": _num(v.n_images if v else None),
            "vs_next_f1_difference": _num(v.difference if v else None),
            "vs_next_ci_low": _num(v.ci_low if v else None),
            "vs_next_ci_high": _num(v.ci_high if v else None),
            "vs_next_p": _num(v.p_value if v else None),
            "vs_next_significant": "" if row.significant(board.alpha) is None
            else str(row.significant(board.alpha)).lower(),
        })
        for m in METRIC_NAMES:
            for c in board.characteristics:
                s = row.per_characteristic[m][c]
                for k in ("mean", "ci_low", "ci_high", "n"):
                    rec[f"{m}[{c}]_{k}"] = "" if s is None else _num(getattr(s, k))
                rec[f"{m}[{c}]_at_floor"] = ";".join(row.at_floor.get(m, {}).get(c, []))
        rec["store_content_hash"] = board.content_hash
        records.append(rec)
    return records


def render_csv(board: Board) -> str:
    """The leaderboard as one CSV table for analysis (full precision, '' = undefined)."""
    records = csv_records(board)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


# -- LaTeX --------------------------------------------------------------------------------

_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "[": "{[}", "]": "{]}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "\u2013": "--", "\u0394": r"$\Delta$", "\u2020": r"\textdagger{}", "\u00a7": r"\S{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX))


def latex_escape(text: str) -> str:
    """Escape text for LaTeX text mode (every special character, and ``[ ]`` after ``\\\\``)."""
    return _LATEX_RE.sub(lambda m: _LATEX[m.group()], " ".join(text.split()))


def _latex_table(caption: str, label: str, colspec: str, header: list[str],
                 body: list[list[str]], split_after: tuple[int, ...] = (1,)) -> list[str]:
    out = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        f"\\caption{{{caption}}}",
        f"\\label{{{label}}}",
        f"\\begin{{tabular}}{{{colspec}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for i, cells in enumerate(body):
        out.append(" & ".join(cells) + r" \\")
        if i + 1 in split_after and len(body) > i + 1:
            out.append(r"\midrule")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return out


def render_latex(board: Board) -> str:
    """The three tables as LaTeX ``table`` floats using booktabs (``\\usepackage{booktabs}``)."""
    header = [latex_escape(h) for h in MAIN_HEADERS]
    n_refs = len(board.rows) - len(board.ranked) - len(board.partial)
    body = [[latex_escape(c) for c in main_cells(row, board.alpha)] for row in board.rows]
    notes = " ".join(latex_escape(n) for n in board_notes(board))
    out = [
        f"% DermX explanation leaderboard, generated by dermx-bench {latex_escape(board.version)}.",
        r"% Needs \usepackage{booktabs} in the preamble.",
    ]
    out += _latex_table(
        f"DermX explanation leaderboard. {notes}", "tab:dermx-leaderboard",
        "rllr" + "l" * 3 + "rr" + "l", header, body,
        split_after=(n_refs, len(board.rows) - len(board.partial)),
    )
    out.append("")
    sheader = ["Entry", *(latex_escape(c) for c in board.characteristics)]
    label = METRIC_LABEL[PER_CHARACTERISTIC]
    for caption, tag, cell in (
        (f"Union-protocol {label} per localisable characteristic", f"tab:dermx-{PER_CHARACTERISTIC}",
         lambda row, c: char_cell(row, PER_CHARACTERISTIC, c)),
        ("Union-protocol sensitivity / specificity per localisable characteristic (always together)",
         "tab:dermx-sensitivity-specificity", sens_spec_cell),
    ):
        sbody = [[latex_escape(row.name), *(latex_escape(cell(row, c)) for c in board.characteristics)]
                 for row in board.rows]
        out += _latex_table(
            f"{caption} (averaged over raters, mean over images); first rows: the dermatologists (like for "
            "like, then rater to rater) and the trivial-map floors. " + latex_escape(AT_FLOOR_NOTE),
            tag, "l" + "r" * len(board.characteristics), sheader, sbody,
            split_after=(n_refs, len(board.rows) - len(board.partial)),
        )
        out.append("")
    return "\n".join(out) + "\n"
