"""Validating a leaderboard: every entry's schema, figures, store and baseline.

Figures are re-checked with the rules of each entry's figures version
(:mod:`dermx_bench.leaderboard.recheck`); an entry made with rules this code no longer (or
does not yet) compute is reported as such, as a warning, never as a hand edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import UNION
from dermx_bench.leaderboard.entries import (
    ENTRIES,
    PREDICTIONS_FILE,
    SCORES_FILE,
    LeaderboardError,
    MixedStoreError,
    StoredEntry,
    consistency_problems,
    entries_dir,
    load_entries,
)
from dermx_bench.leaderboard.recheck import check_reproduces
from dermx_bench.leaderboard.seeds import recheck_seeds
from dermx_bench.results.entry import SINCE, read_entry_json
from dermx_bench.stats.figures import FiguresVersionError


@dataclass
class ValidationReport:
    """What :func:`validate` found on a leaderboard that passed."""

    lb_dir: Path
    entries: list[StoredEntry]
    content_hash: str | None
    baseline_options: dict[str, str]
    rechecked: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "leaderboard": str(self.lb_dir),
            "n_entries": len(self.entries),
            "content_hash": self.content_hash,
            "baseline_options": self.baseline_options,
            "entries": [
                {
                    "name": s.entry.name,
                    "file": str(s.path),
                    "method": s.entry.method,
                    "figures_version": s.entry.figures,
                    "compared_with": s.entry.reference,
                    "union_f1": s.entry.localisation[UNION].per_rater.f1.mean,
                    "figures_rechecked": s.entry.name in self.rechecked,
                    "overlays": len(s.overlays),
                }
                for s in self.entries
            ],
            "warnings": self.warnings,
        }


def validate(
    lb_dir: str | Path = "leaderboard",
    *,
    recheck: bool = True,
) -> ValidationReport:
    """Check every entry of a leaderboard; raise when anything is wrong.

    Checks: each ``entries/*.json`` is a valid entry stored under its name's stem; with
    ``recheck``, its kept ``scores.csv.gz`` and ``predictions.csv.gz`` reproduce its
    figures and (schema 3) match its ``run_files`` and ``digest``, as do its seed runs' (each
    also the same submission with other weights); all entries share one
    store content hash and baseline options (else :class:`MixedStoreError` naming the
    groups); entries of one store agree on the dermatologists' baseline and, per target,
    on ``n_reference_images``. Problems of all entries are collected and raised together as
    :class:`LeaderboardError`. An older entry (schema < 3) without kept scores, or made with
    a figures version this code cannot compute, is reported as a warning (figures not
    re-checked), as are the parts an older entry cannot have checked (no predictions, no
    digest) and entries of different figures versions side by side.
    """
    lb = Path(lb_dir)
    good, problems = load_entries(lb)
    report = ValidationReport(lb, [], None, {})
    for s in good:
        files = s.run_files
        if not recheck:
            continue
        old = s.entry.schema_version < SINCE["digest"]
        if not files.scores.is_file() and old:
            report.warnings.append(f"{s.path}: no {ENTRIES}/{s.stem}/{SCORES_FILE}; figures not re-checked")
            continue
        if old:
            unchecked = ("" if files.predictions else "diagnosis, n_images and n_all_zero_maps (no "
                         f"{PREDICTIONS_FILE} kept), and ") + "the fields no run file reproduces (no digest)"
            report.warnings.append(f"{s.path}: entry schema version {s.entry.schema_version}: {unchecked} "
                                   "not re-checked; re-score the run to check everything")
        try:
            check_reproduces(s.path, s.entry, files, None if old else read_entry_json(s.path))
            recheck_seeds(s.entry, s.folder)
        except FiguresVersionError as exc:
            report.warnings.append(f"{s.path}: {exc}; figures not re-checked")
            continue
        except InputError as exc:
            problems.append(str(exc))
            continue
        report.rechecked.append(s.entry.name)
    for d in sorted(entries_dir(lb).iterdir()):
        if d.is_dir() and not d.name.startswith(".") and not (d.parent / f"{d.name}.json").exists():
            report.warnings.append(f"{d}: folder without an entry file (left over; safe to delete)")
    groups, more = consistency_problems(good)
    versions = sorted({s.entry.figures for s in good})
    if len(versions) > 1:
        report.warnings.append(
            f"entries were made with figures versions {', '.join(map(str, versions))}; their figures "
            "are ranked side by side although computed by different rules (re-score the older ones)"
        )
    problems += more
    if len(groups) > 1:
        raise MixedStoreError(groups, problems)
    if problems:
        raise LeaderboardError(problems, f"{len(problems)} problem(s) in {entries_dir(lb)}")
    report.entries = good
    if good:
        report.content_hash = good[0].entry.store.content_hash
        report.baseline_options = dict(good[0].entry.store.baseline_options)
    return report


