"""The analyses on the leaderboard site (issue 10): a page per pair of entries, the strata
of an entry, its sanity check and its place among the dermatologists.

Made from what the leaderboard keeps of each run (``scores.csv.gz``, ``predictions.csv.gz``
and the extras), with the same functions as ``dermx-bench compare`` and ``analyse``. The
strata on the site are those the run files know: the gold disease and whether the
prediction was correct (skin tone and age need the store: ``dermx-bench analyse``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dermx_bench.core.names import UNION
from dermx_bench.harness.analyses import AnalysisError, RunData, analyse_run, compare_runs
from dermx_bench.leaderboard.extras import Extras
from dermx_bench.leaderboard.seeds import SEEDS_NOTE, seed_rows, seed_summary, seeded
from dermx_bench.results.analyses import PER_RATER, RunComparison
from dermx_bench.stats.analysis_tables import num, pval

if TYPE_CHECKING:
    from dermx_bench.leaderboard.board import Board
    from dermx_bench.leaderboard.entries import StoredEntry

SITE_STRATA: tuple[str, ...] = ("disease", "correct")
"""Groupings shown on an entry's page."""
MAX_PAIRS_ENTRIES = 25
"""Above this many entries, pair pages are made only for neighbours in the ranking."""
SITE_N_BOOT = 1000
"""Resamples of the site's paired and stratum bootstraps."""


def run_data(stored: StoredEntry) -> RunData:
    """The kept run files of an entry as a :class:`RunData`."""
    import pandas as pd

    files = stored.run_files
    scores = pd.read_csv(io.BytesIO(files.raw(files.scores)))
    preds = (pd.read_csv(io.BytesIO(files.raw(files.predictions)), keep_default_na=False,
                         dtype={"gold": str, "predicted": str})
             if files.predictions is not None else pd.DataFrame({"image": [], "gold": [], "predicted": []}))
    return RunData(str(stored.path), stored.entry, scores, preds)


def pair_file(a: StoredEntry, b: StoredEntry) -> str:
    """The pair page's path below the site root."""
    return f"compare/{a.stem}--vs--{b.stem}.html"


def comparison_tables(c: RunComparison) -> list[dict[str, Any]]:
    """One table per metric: characteristic rows (union first) with A, B, A − B [interval], p, Holm p, wins."""
    out = []
    for m in dict.fromkeys(r.metric for r in c.rows):
        rows = [r for r in c.rows if r.metric == m]
        rows.sort(key=lambda r: r.characteristic != UNION)
        out.append({"metric": m, "rows": [
            {"name": r.characteristic, "n": r.n_images, "a": num(r.mean_a), "b": num(r.mean_b),
             "diff": num(r.difference), "ci": f"[{num(r.ci_low)}, {num(r.ci_high)}]", "p": pval(r.wilcoxon_p),
             "holm": pval(r.holm_p), "a_wins": num(r.a_wins, 2), "b_wins": num(r.b_wins, 2),
             "sig": r.holm_p is not None and r.holm_p < 0.05} for r in rows]})
    return out


def comparison(a: StoredEntry, b: StoredEntry, data: dict[str, RunData]) -> RunComparison:
    """Entry ``a`` against ``b`` (their run data cached in ``data`` by stem)."""
    for s in (a, b):
        if s.stem not in data:
            data[s.stem] = run_data(s)
    return compare_runs(data[a.stem], data[b.stem], n_boot=SITE_N_BOOT)


def pairs(stored: list[StoredEntry], order: list[str]) -> list[tuple[StoredEntry, StoredEntry]]:
    """The pairs that get a page: every pair (A before B in ``order``, the board's stems), or
    neighbours only above :data:`MAX_PAIRS_ENTRIES` entries."""
    by = {s.stem: s for s in stored}
    ranked = [by[s] for s in order if s in by] + [s for s in stored if s.stem not in order]
    if len(ranked) > MAX_PAIRS_ENTRIES:
        return list(zip(ranked, ranked[1:], strict=False))
    return [(x, y) for i, x in enumerate(ranked) for y in ranked[i + 1:]]


def strata_tables(data: RunData) -> list[dict[str, Any]]:
    """Per grouping: strata rows of the union's figures (mean [interval] per metric, n) and the test's p."""
    if data.predictions.empty:
        return []
    analysis = analyse_run(data, list(SITE_STRATA), reference=PER_RATER, n_boot=SITE_N_BOOT)
    out = []
    for by in SITE_STRATA:
        rows = [r for r in analysis.rows if r.by == by and r.characteristic == UNION]
        metrics = list(dict.fromkeys(r.metric for r in rows))
        tests = {t.metric: t for t in analysis.tests if t.by == by and t.characteristic == UNION}
        strata = list(dict.fromkeys(r.stratum for r in rows))
        body = []
        for s in strata:
            cells = {r.metric: r for r in rows if r.stratum == s}
            first = cells[metrics[0]]
            body.append({"name": s, "n": first.stat.n, "few": first.few, "cells": [
                f"{num(cells[m].stat.mean)} [{num(cells[m].stat.ci_low)}, {num(cells[m].stat.ci_high)}]"
                for m in metrics]})
        out.append({"by": by.replace("_", " "), "metrics": metrics, "rows": body,
                    "p": [pval(tests[m].p_value) if m in tests else "–" for m in metrics]})
    return out


def extras_context(extras: Extras) -> dict[str, Any]:
    """The sanity check and the place among the dermatologists, ready for the template."""
    sanity = None
    if extras.sanity is not None:
        s = extras.sanity
        sanity = {"passed": s.passed, "method": s.method, "n_images": len(s.images), "threshold": s.ssim_threshold,
                  "repeat": num(s.repeat_ssim), "stages": [
                      {"stage": st.stage, "layer": st.layers[-1], "ssim": num(st.ssim), "spearman": num(st.spearman)}
                      for st in s.stages]}
    places = [{"name": p.characteristic, "model": num(p.model), "reference": num(p.reference),
               "raters": ", ".join(f"{k} {num(v)}" for k, v in p.raters.items()) or "–",
               "percentile": num(p.percentile, 0), "p": pval(p.tost_p),
               "equivalent": "–" if p.equivalent is None else ("yes" if p.equivalent else "no"), "margin": p.margin}
              for p in (extras.as_dermatologist or [])]
    return {"sanity": sanity, "places": places}


@dataclass
class SiteAnalyses:
    """Every comparison and stratum table of a site, computed once."""

    stored: list[StoredEntry]
    comparisons: dict[tuple[str, str], RunComparison]
    data: dict[str, RunData]
    order: list[str]

    def pages(self) -> list[tuple[tuple[str, str], str]]:
        by = {s.stem: s for s in self.stored}
        return [((a, b), pair_file(by[a], by[b])) for a, b in self.comparisons]

    def _union_f1(self, a: str, b: str, flip: bool = False) -> dict[str, Any]:
        """The union F1 cell of the pair (a, b); ``flip``: shown in the row of b (B − A)."""
        c = self.comparisons[(a, b)]
        r = next(r for r in c.rows if r.characteristic == UNION and r.metric == "f1")
        shown = None if r.difference is None else (-r.difference if flip else r.difference)
        return {"diff": num(shown), "p": pval(r.wilcoxon_p),
                "sig": r.wilcoxon_p is not None and r.wilcoxon_p < 0.05,
                "title": f"{c.name_a} − {c.name_b}: union F1 {num(r.difference)} "
                         f"[{num(r.ci_low)}, {num(r.ci_high)}], Wilcoxon p {pval(r.wilcoxon_p)}, "
                         f"{c.n_shared_images} shared images"}

    def index(self) -> dict[str, Any]:
        """The index's comparison matrix: row A, column B, union F1 A − B linking to the pair page."""
        by = {s.stem: s for s in self.stored}
        names = {s.stem: s.entry.name for s in self.stored}
        stems = [s for s in self.order if s in by] + [s.stem for s in self.stored if s.stem not in self.order]
        rows = []
        for a in stems:
            cells: list[dict[str, Any] | None] = []
            for b in stems:
                if (a, b) in self.comparisons:
                    cells.append({**self._union_f1(a, b), "href": pair_file(by[a], by[b])})
                elif (b, a) in self.comparisons:
                    cells.append({**self._union_f1(b, a, flip=True), "href": pair_file(by[b], by[a])})
                else:
                    cells.append(None)
            rows.append({"name": names[a], "cells": cells})
        return {"pair_matrix": {"names": [names[s] for s in stems], "rows": rows} if len(stems) > 1 else None,
                "seed_rows": seed_rows(seeded(self.stored)), "seeds_note": SEEDS_NOTE}

    def pair_context(self, a: str, b: str) -> dict[str, Any]:
        c = self.comparisons[(a, b)]
        return {"c": c, "tables": comparison_tables(c)}

    def entry(self, stored: StoredEntry) -> dict[str, Any]:
        """An entry page's strata, extras and links to its pair pages."""
        by = {s.stem: s for s in self.stored}
        links = [{"name": by[y if x == stored.stem else x].entry.name, "href": "../../" + pair_file(by[x], by[y])}
                 for x, y in self.comparisons if stored.stem in (x, y)]
        data = self.data.get(stored.stem) or run_data(stored)
        summary = seed_summary(stored.entry, stored.seeds)
        return {"strata": strata_tables(data), "pair_links": links, **extras_context(stored.extras),
                "seed_rows": seed_rows([(stored.entry.name, summary)]) if summary else [], "seeds_note": SEEDS_NOTE}


def site_analyses(board: Board, stored: list[StoredEntry]) -> SiteAnalyses:
    """The comparisons of the site's pairs (:func:`pairs`) and the run data they read."""
    order = [r.stem for r in board.rows if r.stem is not None]
    data: dict[str, RunData] = {}
    comps = {}
    for a, b in pairs(stored, order):
        try:
            comps[(a.stem, b.stem)] = comparison(a, b, data)
        except AnalysisError:  # e.g. an older entry without the like-for-like reference: no page
            continue
    return SiteAnalyses(stored, comps, data, order)
