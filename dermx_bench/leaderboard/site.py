"""The static leaderboard site: ``index.html`` plus one page per entry.

Layout of ``OUT``::

    OUT/index.html                         ranked table (sortable) + sensitivity table
    OUT/entries/<stem>/index.html          one page per entry
    OUT/entries/<stem>/overlays/*.png      the run's overlays, copied
    OUT/.dermx-bench-site                  marker: OUT may be replaced by a later publish

Pages are self-contained (inline CSS, inline SVG charts, one small inline script for
sorting, no network at view time) and rendered with jinja2 autoescaping, so every string
from an entry is shown as text. A Content-Security-Policy allows only the sorting script
(by its sha256), so even a string that slipped through could not run script.
The site is written to a temporary folder beside ``OUT`` and moved into place; an
existing ``OUT`` is replaced only when it is empty or carries the marker.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import swap_folder
from dermx_bench.core.names import LIKE_FOR_LIKE, METRIC_NAMES, UNION
from dermx_bench.core.paths import child
from dermx_bench.leaderboard.board import (
    DASH,
    FLOOR_PREFIX,
    HUMAN_NAME,
    METRIC_LABEL,
    PAIRWISE_NAME,
    PER_CHARACTERISTIC,
    Board,
    char_cell,
    fmt_coverage,
    fmt_num,
    fmt_options,
    fmt_p,
    fmt_vs_next,
    mark,
    method_label,
    sens_spec_cell,
)
from dermx_bench.leaderboard.board_notes import board_notes
from dermx_bench.leaderboard.entries import StoredEntry
from dermx_bench.leaderboard.site_analyses import site_analyses
from dermx_bench.leaderboard.site_chart import chart, floor_metric
from dermx_bench.results.figures import Stat
from dermx_bench.stats.aggregate import metrics_of
from dermx_bench.stats.estimators import AT_FLOOR_NOTE
from dermx_bench.stats.figures import REFERENCE_LABELS

MARKER = ".dermx-bench-site"

SORT_SCRIPT = """
(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent; }
    if (type === "number") {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw === "" ? null : raw.toLowerCase();
  }
  function sortTable(table, col, th) {
    var type = th.getAttribute("data-type") || "text";
    var current = th.getAttribute("aria-sort");
    var dir;
    if (current === "ascending") { dir = "descending"; }
    else if (current === "descending") { dir = "ascending"; }
    else { dir = th.getAttribute("data-first") || "ascending"; }
    var sign = dir === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, i) {
      return { row: row, key: key(row.cells[col], type), i: i };
    });
    keyed.sort(function (a, b) {
      if (a.key === null && b.key === null) { return a.i - b.i; }
      if (a.key === null) { return 1; }
      if (b.key === null) { return -1; }
      if (a.key < b.key) { return -sign; }
      if (a.key > b.key) { return sign; }
      return a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) {
      h.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", dir);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortTable(table, col, th); }
      });
    });
  });
})();
"""


def soft_hyphens(text: str, longest: int = 8) -> str:
    """``text`` with soft hyphens (U+00AD) splitting each word longer than ``longest`` into
    halves (thirds above twice that): narrow table headers break there, with a hyphen."""
    words = []
    for w in text.split(" "):
        parts = 1 if len(w) <= longest else (2 if len(w) <= 2 * longest else 3)
        step = -(-len(w) // parts)
        words.append("\u00ad".join(w[i:i + step] for i in range(0, len(w), step)))
    return " ".join(words)


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dermx_bench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["soft_hyphens"] = soft_hyphens
    return env


def _sort_value(v: float | int | None) -> str:
    return "" if v is None else repr(float(v))


def _stat_cell(s: Stat | None) -> dict[str, str]:
    if s is None or s.mean is None:
        return {"mean": DASH, "ci": "", "sort": ""}
    ci = "" if s.ci_low is None or s.ci_high is None else f"[{s.ci_low:.3f}, {s.ci_high:.3f}]"
    return {"mean": f"{s.mean:.3f}", "ci": ci, "sort": _sort_value(s.mean)}


def _index_context(board: Board) -> dict[str, Any]:
    headers = [
        {"label": "Rank", "cls": "num", "type": "number", "first": "ascending"},
        {"label": "Entry", "cls": "", "type": "text", "first": "ascending"},
        {"label": "Method", "cls": "", "type": "text", "first": "ascending"},
        {"label": "Images (coverage)", "cls": "num", "type": "number", "first": "descending"},
        *({"label": f"Union {METRIC_LABEL[m].lower() if m != 'f1' else 'F1'} [95% CI]",
           "cls": "num", "type": "number", "first": "descending"} for m in METRIC_NAMES),
        {"label": "Diagnostic accuracy", "cls": "num", "type": "number", "first": "descending"},
        {"label": "Diagnostic macro F1", "cls": "num", "type": "number", "first": "descending"},
        {"label": "vs next: \u0394F1 [95% CI], p", "cls": "num", "type": "number",
         "first": "descending"},
    ]
    rows = []
    char_rows = []
    ss_rows = []
    for r in board.rows:
        href = f"entries/{quote(r.stem)}/index.html" if r.stem else None
        v = r.vs_next
        vs_title = ""
        if v is not None and r.next_name is not None:
            vs_title = (f"vs {r.next_name}: {v.n_images} shared images, p = "
                        f"{fmt_p(v.p_value)}")
        rows.append({
            "kind": r.kind, "name": r.name, "href": href,
            "rank": DASH if r.rank is None else str(r.rank),
            "rank_sort": "" if r.rank is None else str(r.rank),
            "method": method_label(r) or DASH,
            "coverage": fmt_coverage(r),
            "coverage_sort": _sort_value(r.n_images / r.n_reference_images
                                         if r.n_images is not None and r.n_reference_images else None),
            "union": [{**_stat_cell(r.union[m]), "mark": mark(r, m)} for m in METRIC_NAMES],
            "accuracy": fmt_num(r.accuracy), "accuracy_sort": _sort_value(r.accuracy),
            "macro_f1": fmt_num(r.macro_f1), "macro_f1_sort": _sort_value(r.macro_f1),
            "vs": fmt_vs_next(v, board.alpha),
            "vs_sort": _sort_value(v.difference if v else None),
            "vs_title": vs_title,
            "sig": bool(r.significant(board.alpha)),
        })
        f1_cells = []
        ss_cells = []
        for c in board.characteristics:
            cell = _stat_cell(r.per_characteristic[PER_CHARACTERISTIC][c])
            f1_cells.append({"text": char_cell(r, PER_CHARACTERISTIC, c), "sort": cell["sort"],
                             "title": f"{c}: {cell['mean']} {cell['ci']}".strip()})
            sens = _stat_cell(r.per_characteristic["sensitivity"][c])
            spec = _stat_cell(r.per_characteristic["specificity"][c])
            ss_cells.append({"text": sens_spec_cell(r, c).replace(" / ", "\u00a0/ "), "sort": sens["sort"],
                             "title": f"{c}: sensitivity {sens['mean']} {sens['ci']}, specificity "
                                      f"{spec['mean']} {spec['ci']}"})
        char_rows.append({"kind": r.kind, "name": r.name, "href": href, "cells": f1_cells})
        ss_rows.append({"kind": r.kind, "name": r.name, "href": href, "cells": ss_cells})
    return {
        "board": board, "headers": headers, "rows": rows, "char_rows": char_rows, "ss_rows": ss_rows,
        "char_label": METRIC_LABEL[PER_CHARACTERISTIC],
        "notes": board_notes(board), "options": fmt_options(board.baseline_options),
        "sort_script": SORT_SCRIPT, "script_hashes": [_script_hash(SORT_SCRIPT)],
        "version": board.version,
    }


# -- entry page ---------------------------------------------------------------------------


def _entry_context(stored: StoredEntry, rank: int | None, board: Board,
                   overlays: list[str]) -> dict[str, Any]:
    e = stored.entry
    hb = e.human_baseline
    union = e.localisation[UNION]
    shown = metrics_of(union.per_rater)  # the saliency metrics too, from figures version 3
    metrics = [{"key": m, "label": METRIC_LABEL.get(m, m)} for m in shown]

    def cell(s: Stat | None) -> str:
        c = _stat_cell(s)
        return f"{c['mean']} {c['ci']}".strip()

    floors = hb.floors or {}
    entry_row = next((r for r in board.rows if r.stem is not None and r.stem == stored.stem), None)

    def marked(m: str, c: str) -> str:
        return mark(entry_row, m, c) if entry_row is not None else ""

    union_rows = [
        {"label": "Each dermatologist (averaged over raters)", "human": False,
         "cells": [cell(getattr(union.per_rater, m)) + marked(m, UNION) for m in shown]},
        {"label": "Fuzzy fusion of the dermatologists", "human": False,
         "cells": [cell(getattr(union.fusion, m)) for m in shown]},
    ]
    if hb.like_for_like is not None and UNION in hb.like_for_like:
        union_rows.append({"label": HUMAN_NAME, "human": True,
                           "cells": [cell(getattr(hb.like_for_like[UNION].per_rater, m)) for m in shown]})
    union_rows.append({"label": PAIRWISE_NAME, "human": True,
                       "cells": [cell(getattr(hb.localisation[UNION], m)) for m in shown]})
    for name, f in floors.items():
        union_rows.append({"label": f"{FLOOR_PREFIX}{name}", "human": True,
                           "cells": [cell(floor_metric(f.localisation, UNION, m)) for m in shown]})
    char_rows = []
    for c in board.characteristics:
        if c not in e.localisation:
            continue
        loc = e.localisation[c]
        cells = []
        for m in shown:
            base = getattr(loc.baseline, m)
            cells.append({"model": cell(getattr(loc.per_rater, m)) + marked(m, c), "human": cell(base),
                          "floors": " \u00b7 ".join(
                              fmt_num(None if (fs := floor_metric(fl.localisation, c, m)) is None else fs.mean)
                              for fl in floors.values())})
        char_rows.append({"name": c, "n": loc.n_images, "cells": cells})
    conf = e.diagnosis.confusion
    rows = []
    for label, counts in zip(conf.labels, conf.matrix, strict=True):
        total = sum(counts)
        rows.append({"label": label, "cells": [
            {"count": n, "alpha": round(n / total, 3) if total else 0.0} for n in counts]})
    per_class = [
        {"name": name, "n": s.n, "f1": fmt_num(s.f1), "sensitivity": fmt_num(s.sensitivity),
         "specificity": fmt_num(s.specificity), "auroc": fmt_num(s.auroc)}
        for name, s in e.diagnosis.per_class.items()
    ]
    return {
        "e": e, "rank": rank, "n_entries": len(board.ranked), "metrics": metrics,
        "union_rows": union_rows, "char_rows": char_rows,
        "charts": [chart(e, m, board.characteristics) for m in ("f1", "sensitivity")],
        "confusion": {"labels": conf.labels, "rows": rows}, "per_class": per_class,
        "acc": fmt_num(e.diagnosis.accuracy), "macro_f1": fmt_num(e.diagnosis.macro_f1),
        "macro_auroc": None if e.diagnosis.macro_auroc is None else fmt_num(e.diagnosis.macro_auroc),
        "rank_by": METRIC_LABEL.get(board.rank_by, board.rank_by),
        "human_acc": fmt_num(hb.diagnosis.accuracy), "human_macro_f1": fmt_num(hb.diagnosis.macro_f1),
        "overlays": [quote(o) for o in overlays], "options": fmt_options(e.store.baseline_options),
        "floor_names": " \u00b7 ".join(floors), "reference": REFERENCE_LABELS[e.reference],
        "reference_name": HUMAN_NAME if e.reference == LIKE_FOR_LIKE else PAIRWISE_NAME,
        "floor_note": AT_FLOOR_NOTE if floors else "", "figures_version": e.figures,
        "script_hashes": [], "version": board.version,
    }


def _prepare_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise InputError(out, "", "exists and is not a folder; the site needs a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise InputError(
                out, "",
                "folder exists, is not empty and was not made by 'leaderboard publish'; "
                "refusing to replace it (choose an empty or new folder)",
            )


def write_site(board: Board, stored: list[StoredEntry], out: str | Path) -> Path:
    """Render the site for ``board`` into folder ``out`` (replaced atomically); return it."""
    out = Path(out)
    _prepare_out(out)
    env = _environment()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        site = tmp / "site"
        site.mkdir()
        (site / MARKER).write_text("made by dermx-bench leaderboard publish\n", encoding="utf-8")
        ranks = {r.stem: r.rank for r in board.ranked}
        analyses = site_analyses(board, stored)
        (site / "index.html").write_text(
            env.get_template("leaderboard_index.html.j2").render(**_index_context(board), **analyses.index()),
            encoding="utf-8",
        )
        for (a, b), page in analyses.pages():
            path = site / page
            path.parent.mkdir(exist_ok=True)
            path.write_text(env.get_template("leaderboard_compare.html.j2").render(
                **analyses.pair_context(a, b), script_hashes=[], version=board.version), encoding="utf-8")
        for s in stored:
            page_dir = child(site / "entries", s.stem)
            (page_dir / "overlays").mkdir(parents=True)
            names = []
            for p in s.overlays:
                shutil.copyfile(p, child(page_dir / "overlays", p.name))
                names.append(p.name)
            ctx = {**_entry_context(s, ranks.get(s.stem), board, names), **analyses.entry(s)}
            (page_dir / "index.html").write_text(
                env.get_template("leaderboard_entry.html.j2").render(**ctx), encoding="utf-8"
            )
        swap_folder(site, out, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
