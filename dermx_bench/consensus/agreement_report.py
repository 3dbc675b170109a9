"""Agreement tables as text: an aligned table, csv, json or Markdown (the reproduction report)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pandas as pd

from dermx_bench.consensus.agreement_table import AgreementTable, table_payload
from dermx_bench.core.files import json_ready


def _fmt_cell(v: Any, decimals: int) -> str:
    v = json_ready(v)
    if v is None:
        return "–" if decimals >= 0 else ""
    if isinstance(v, float):
        return f"{v:.{decimals}f}"
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in df.to_dict(orient="records"):
        lines.append("| " + " | ".join(_fmt_cell(rec[c], 2) for c in cols) + " |")
    return "\n".join(lines)


def _text(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    cells = [[_fmt_cell(rec[c], 2) for c in cols] for rec in df.to_dict(orient="records")]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths, strict=True)))]
    for r in cells:
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def _selection_line(report: dict[str, Any]) -> str:
    if not report:
        return ""
    reasons = ", ".join(f"{k} {v}" for k, v in report.get("discarded_by_reason", {}).items()) or "none"
    md = report.get("multi_diagnosis")
    multi = report.get("multi_diagnosis_evaluations", 0)
    handling = (f"{report.get('multi_diagnosis_dropped', 0)} dropped" if md == "drop"
                else f"kept with the {'alphabetically first' if md == 'alphabetical' else 'first listed'} diagnosis")
    return (f"evaluations kept {report.get('kept')}, discarded {report.get('discarded')} ({reasons}); "
            f"{multi} with several diagnoses: {handling}")


def _counts_lines(t: AgreementTable) -> list[str]:
    lines = [f"- multi_diagnosis = `{t.multi_diagnosis}`"]
    sel = t.counts.get("selection")
    if sel:
        lines.append(f"- {_selection_line(sel)}")
    for k, v in t.counts.items():
        if k in ("selection", "accuracy_by_rater"):
            continue
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, list):
            v = ", ".join(map(str, v))
        lines.append(f"- {k.replace('_', ' ')}: {v}")
    return lines


_TITLES = {
    "diagnosis-gold": "Diagnosis against the gold standard (mean ± population std over raters)",
    "diagnosis-pairwise": "Pairwise diagnosis agreement (mean ± population std over ordered pairs)",
    "presence": "Characteristic presence agreement (mean ± population std over ordered pairs)",
    "localisation": "Localisation agreement, rater to rater (mean ± sample std over ordered pairs, pooled "
                    "over images; DermX Table 3b; not a reference for a model: see like-for-like)",
    "fleiss": "Fleiss' kappa over pixel labels (mean ± sample std over images)",
    "leave-one-out": "Leave one rater out: each rater against the fusion of the others (mean ± sample std)",
    "like-for-like": "Like-for-like human reference: each rater's own explanation (the union of what they "
                     "outlined) scored as a model's map, against the other raters (mean ± sample std "
                     "[bootstrap 95% interval] over images)",
    "floors": "Trivial-map floors: maps that need no model, scored as a model's map (mean ± sample std "
              "[bootstrap 95% interval] over images)",
}


def _no_pairs_lines(t: AgreementTable) -> list[str]:
    """Below the localisation table: the characteristics whose raters have no overlapping pair, and why."""
    from dermx_bench.results.baseline import NO_PAIRS, no_pairs_reason
    from dermx_bench.results.figures import Stat

    if t.table != "localisation" or "f1_mean" not in t.frame:
        return []
    out = []
    for name, mean, n in zip(t.frame["name"], t.frame["f1_mean"], t.frame["n"], strict=True):
        defined = mean is not None and mean == mean  # NaN: no pair at all
        stat = Stat(mean=float(mean), std=None, ci_low=None, ci_high=None, n=int(n)) if defined else None
        if (why := no_pairs_reason(stat)) is not None:
            out.append(f"{NO_PAIRS} ({name}): {why} (its F1 and sensitivity are 0 by construction, not a measured disagreement).")
    return out


def render(tables: Sequence[AgreementTable], fmt: str, *, store_hash: str | None = None) -> str:
    """Format tables: ``csv`` (one table, unrounded), ``json`` (unrounded), ``table`` or ``md``
    (two decimals; ``md`` of several tables is the reproduction report with counts)."""
    if fmt == "csv":
        if len(tables) != 1:
            raise ValueError("the csv format holds one table; choose one with --table")
        return cast(str, tables[0].frame.to_csv(index=False, float_format=None, na_rep="")).rstrip("\n")
    if fmt == "json":
        payloads = [table_payload(t) for t in tables]
        return json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2)
    if fmt == "table":
        parts = []
        for t in tables:
            parts.append("\n".join([f"# {t.table} (multi_diagnosis={t.multi_diagnosis})", _text(t.frame),
                                    *_no_pairs_lines(t)]))
        return "\n\n".join(parts)
    if fmt == "md":
        parts = []
        if len(tables) > 1:
            parts.append("# DermX inter-rater agreement: reproduction report")
            if store_hash:
                parts.append(f"Store content hash: `{store_hash}`. Figures rounded to two decimals; "
                             "`–` marks an undefined value.")
        for t in tables:
            head = f"## {t.table}: {_TITLES[t.table]}"
            notes = _no_pairs_lines(t)
            parts.append("\n".join([head, "", *_counts_lines(t), "", _markdown(t.frame), *([""] + notes if notes else [])]))
        return "\n\n".join(parts)
    raise ValueError(f"unknown format {fmt!r}; choose one of: table, csv, json, md")
