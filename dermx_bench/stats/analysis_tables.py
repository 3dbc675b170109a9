"""The analyses of issue 10 as tables: Markdown for people, CSV rows for programs.

Every table is made from the typed results of :mod:`dermx_bench.results.analyses`;
numbers are printed with 3 decimals (p values in scientific notation below 0.001).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dermx_bench.results.analyses import (
    AsDermatologist,
    RunComparison,
    SanityResult,
    StrataAnalysis,
    StratumRow,
)
from dermx_bench.stats.equivalence import ALPHA


def num(v: float | None, d: int = 3) -> str:
    """A number with ``d`` decimals, '–' when undefined."""
    return "–" if v is None else f"{v:.{d}f}"


def pval(p: float | None) -> str:
    """A p value: 3 decimals, or scientific notation below 0.001; '–' when undefined."""
    if p is None:
        return "–"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _md(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> list[str]:
    """A Markdown table; columns from ``right`` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + [
        "| " + " | ".join(r) + " |" for r in rows]


def comparison_markdown(c: RunComparison) -> str:
    """``compare --format md``: one table per metric, A − B with its interval and tests."""
    lines = [f"# {c.name_a} (A) vs {c.name_b} (B)", "",
             f"Paired on the {c.n_shared_images} images both runs scored ({c.n_only_a} only in A, "
             f"{c.n_only_b} only in B); per image: {c.reference} score. Difference A − B: mean over images, "
             f"paired image bootstrap 95% interval ({c.bootstrap_n} resamples, seed {c.bootstrap_seed}); "
             "Wilcoxon signed-rank p (two-sided), Holm-corrected across characteristics (the union apart); "
             "wins: share of images where A (B) scores higher.", ""]
    for m in dict.fromkeys(r.metric for r in c.rows):
        lines += [f"## {m}", ""]
        rows = [[r.characteristic, str(r.n_images), num(r.mean_a), num(r.mean_b), num(r.difference),
                 f"[{num(r.ci_low)}, {num(r.ci_high)}]", pval(r.wilcoxon_p), pval(r.holm_p),
                 num(r.a_wins, 2), num(r.b_wins, 2)] for r in c.rows if r.metric == m]
        lines += _md(["characteristic", "images", "A", "B", "A − B", "95% interval", "Wilcoxon p", "Holm p",
                      "A wins", "B wins"], rows)
        lines.append("")
    return "\n".join(lines)


COMPARISON_COLUMNS = ("characteristic", "metric", "n_images", "mean_a", "mean_b", "difference", "ci_low",
                      "ci_high", "wilcoxon_p", "holm_p", "a_wins", "b_wins")


def comparison_rows(c: RunComparison) -> list[list[Any]]:
    """``compare --format csv``: header then one row per characteristic x metric."""
    return [list(COMPARISON_COLUMNS)] + [[getattr(r, k) for k in COMPARISON_COLUMNS] for r in c.rows]


def strata_markdown(a: StrataAnalysis, metrics: Sequence[str] | None = None) -> str:
    """``analyse``: per grouping and metric, characteristics by strata (mean [interval] n) and the test."""
    lines = [f"# {a.name}: strata", "", f"Per image: {a.reference} score; per stratum: mean over its images "
             f"[image bootstrap 95% interval] (n). Test across strata: {a.test}. "
             f"! = fewer than {a.min_n} images.", ""]
    lines += [f"- warning: {w}" for w in a.warnings]
    if a.warnings:
        lines.append("")
    tests = {(t.by, t.characteristic, t.metric): t for t in a.tests}
    for by in a.by:
        for m in metrics or list(dict.fromkeys(r.metric for r in a.rows)):
            rows = [r for r in a.rows if r.by == by and r.metric == m]
            strata = list(dict.fromkeys(r.stratum for r in rows))
            if not strata:
                continue
            lines += [f"## {m} by {by}", ""]
            body = []
            for ch in dict.fromkeys(r.characteristic for r in rows):
                cells = {r.stratum: r for r in rows if r.characteristic == ch}
                t = tests.get((by, ch, m))
                body.append([ch] + [_stratum_cell(cells.get(s)) for s in strata]
                            + [pval(None if t is None else t.p_value)])
            lines += _md(["characteristic", *strata, "p (across strata)"], body)
            lines.append("")
    return "\n".join(lines)


def _stratum_cell(r: StratumRow | None) -> str:
    """``mean [low, high] (n)``, ``!`` after n under the minimum; ``– (0)`` for no image."""
    if r is None or r.stat.mean is None:
        return "– (0)"
    interval = f" [{num(r.stat.ci_low)}, {num(r.stat.ci_high)}]" if r.stat.ci_low is not None else ""
    return f"{num(r.stat.mean)}{interval} ({r.stat.n}{'!' if r.few else ''})"


def sanity_markdown(s: SanityResult) -> str:
    """``sanity``: SSIM and Spearman of the randomised maps with the original ones, per stage."""
    verdict = "PASSED" if s.passed else "FAILED"
    lines = [f"# {s.name}: model randomisation test ({s.method})", "",
             f"{verdict}: after randomising every stage the maps' mean SSIM with the original maps is "
             f"{num(s.stages[-1].ssim if s.stages else None)} (threshold {s.ssim_threshold}); "
             f"repeatability (the same maps twice): SSIM {num(s.repeat_ssim)}, Spearman {num(s.repeat_spearman)}. "
             f"{len(s.images)} images, seed {s.seed}.", ""]
    rows = [[str(st.stage), ", ".join(st.layers[-1:]) + (f" (+{len(st.layers) - 1} above)" if len(st.layers) > 1
                                                         else ""), num(st.ssim), num(st.spearman)]
            for st in s.stages]
    return "\n".join(lines + _md(["stage", "randomised down to", "SSIM", "Spearman"], rows, right=2)) + "\n"


def as_dermatologist_markdown(rows: Sequence[AsDermatologist]) -> list[str]:
    """The summary's section: the model's F1 against the fusion among the dermatologists'."""
    if not rows:
        return []
    margin = rows[0].margin
    lines = ["## The model as one more dermatologist (F1 against the fusion of the raters)", "",
             "Percentile: share of dermatologists (each against the fusion of the others) below the model, "
             f"ties half. TOST: two one-sided Welch t tests that the model is within {margin} of the like-for-like "
             f"reference (equivalent when p < {ALPHA}).", ""]
    body = [[r.characteristic, num(r.model), num(r.reference),
             ", ".join(f"{k} {num(v)}" for k, v in r.raters.items()) or "–", num(r.percentile, 0), pval(r.tost_p),
             "–" if r.equivalent is None else ("yes" if r.equivalent else "no")] for r in rows]
    return lines + _md(["characteristic", "model", "dermatologists (mean)", "each dermatologist", "percentile",
                        "TOST p", "equivalent"], body) + [""]
