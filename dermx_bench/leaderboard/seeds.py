"""Entries that group several runs of one submission trained with different seeds (issue 10).

The DermX paper reports each architecture as mean ± sd over five trainings. An entry added
with seed runs (``leaderboard add RUN --seed-run RUN2 --seed-run RUN3``) keeps each extra
run, checked exactly as the entry's own run (figures reproduced from its files, digest), in
``LB/entries/<stem>/seeds/<k>/`` (``entry.json``, ``scores.csv.gz``, ``predictions.csv.gz``).
A seed run must be the same submission (name, model, classes, input, target layer), method,
target, store and baseline as the entry, with other weights.

:func:`seed_summary`: per union metric (averaged over raters), each run's figure (mean and
image-bootstrap interval) and, across the runs, their mean ± sample sd (ddof 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import METRIC_NAMES, UNION
from dermx_bench.leaderboard.recheck import RunFilesOnDisk, check_reproduces
from dermx_bench.results.analyses import SeedStat, SeedSummary
from dermx_bench.results.entry import Entry, dump_entry, load_entry, parse_entry, read_entry_json
from dermx_bench.results.figures import Stat
from dermx_bench.stats.estimators import mean_std

if TYPE_CHECKING:
    from dermx_bench.leaderboard.entries import StoredEntry

SEEDS = "seeds"


def _same_submission(entry: Entry, other: Entry, where: Path) -> None:
    checks = {
        "name": (entry.name, other.name),
        "submission": (entry.submission, other.submission),
        "method": (entry.method, other.method),
        "target": (entry.target, other.target),
        "store": (entry.store, other.store),
        "human_baseline": (entry.human_baseline, other.human_baseline),
    }
    for field, (a, b) in checks.items():
        if a != b:
            raise InputError(where, field, "a seed run must be the same submission, method, target, store and "
                                           f"baseline as the entry; its {field} differs")


def _check_seed(entry: Entry, root: Path, files: RunFilesOnDisk, seen: set[str]) -> dict[str, Any]:
    """The seed run's entry in ``root`` (decoded), checked: the same submission as ``entry``, weights
    not in ``seen`` (then added), figures reproduced from ``files``, digest."""
    path = root / "entry.json"
    data = read_entry_json(path)
    other = parse_entry(data, path)
    _same_submission(entry, other, path)
    if other.weights_sha256 in seen:
        raise InputError(path, "weights_sha256", "the same weights as the entry or another seed run: "
                                                 "a seed run is another training")
    seen.add(other.weights_sha256)
    check_reproduces(path, other, files, data)
    return data


def stage_seeds(entry: Entry, runs: Sequence[str | Path], folder: Path,
                gzip_bytes: Callable[[bytes, str], bytes]) -> int:
    """Check each seed run and write it to ``folder/seeds/<k>/``; returns how many."""
    seen = {entry.weights_sha256}
    for k, run in enumerate(runs, start=1):
        root = Path(run)
        files = RunFilesOnDisk(root / "scores.csv", root / "predictions.csv")
        data = _check_seed(entry, root, files, seen)
        out = folder / SEEDS / str(k)
        out.mkdir(parents=True)
        (out / "entry.json").write_text(dump_entry(data), encoding="utf-8")
        for name in ("scores.csv", "predictions.csv"):
            (out / f"{name}.gz").write_bytes(gzip_bytes(files.raw(root / name), name))
    return len(runs)


def _seed_dirs(folder: Path) -> list[Path]:
    d = folder / SEEDS
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def load_seeds(folder: Path) -> list[Entry]:
    """The seed runs' entries kept in an entry's folder, in the order they were added."""
    return [load_entry(p / "entry.json") for p in _seed_dirs(folder)]


def recheck_seeds(entry: Entry, folder: Path) -> None:
    """Check the seed runs kept in ``folder`` as :func:`stage_seeds` did when they were added,
    from the kept gzipped run files. InputError naming the seed run's ``entry.json`` and field;
    :class:`~dermx_bench.stats.figures.FiguresVersionError` as for an entry."""
    seen = {entry.weights_sha256}
    for d in _seed_dirs(folder):
        _check_seed(entry, d, RunFilesOnDisk(d / "scores.csv.gz", d / "predictions.csv.gz"), seen)


def seed_summary(entry: Entry, seeds: Sequence[Entry]) -> SeedSummary | None:
    """Across the entry's run and its seed runs: per union metric each run's figure and mean ± sd
    (None without seed runs)."""
    if not seeds:
        return None
    import numpy as np

    runs = [entry, *seeds]
    metrics = {}
    for m in METRIC_NAMES:
        stats = [getattr(e.localisation[UNION].per_rater, m) for e in runs if UNION in e.localisation]
        mean, sd = mean_std(np.array([np.nan if s.mean is None else s.mean for s in stats], dtype=np.float64), 1)
        metrics[m] = SeedStat(mean=None if np.isnan(mean) else mean, sd=None if np.isnan(sd) else sd, runs=stats)
    return SeedSummary(n_runs=len(runs), metrics=metrics)


def seeded(stored: Sequence[StoredEntry]) -> list[tuple[str, SeedSummary]]:
    """(name, seed summary) of the stored entries kept with seed runs."""
    out = []
    for s in stored:
        summary = seed_summary(s.entry, s.seeds)
        if summary is not None:
            out.append((s.entry.name, summary))
    return out


def _cell(s: Stat) -> str:
    if s.mean is None:
        return "–"
    ci = f" [{s.ci_low:.3f}, {s.ci_high:.3f}]" if s.ci_low is not None and s.ci_high is not None else ""
    return f"{s.mean:.3f}{ci}"


def seed_rows(named: Sequence[tuple[str, SeedSummary]]) -> list[dict[str, Any]]:
    """Rows of the seeds table: per entry and union metric, mean ± sd across runs and each run's figure."""
    rows: list[dict[str, Any]] = []
    for name, summary in named:
        for m, st in summary.metrics.items():
            spread = "–" if st.mean is None else f"{st.mean:.3f} ± {'–' if st.sd is None else f'{st.sd:.3f}'}"
            rows.append({"name": name, "metric": m, "n_runs": summary.n_runs, "spread": spread,
                         "runs": [_cell(r) for r in st.runs]})
    return rows


SEEDS_NOTE = ("Entries trained with several seeds: per union metric (averaged over raters), the mean ± sample sd "
              "across the runs (the entry's own run first) beside each run's mean [image-bootstrap 95% interval]. "
              "The ranking uses the entry's own run.")


def seeds_markdown(named: Sequence[tuple[str, SeedSummary]]) -> str:
    """The Markdown section of the seeds table ('' without entries with seed runs)."""
    if not named:
        return ""
    rows = seed_rows(named)
    width = max(len(r["runs"]) for r in rows)
    lines = ["## Runs with several seeds", "", SEEDS_NOTE, "",
             "| Entry | Metric | Mean ± sd | " + " | ".join(f"Run {k + 1}" for k in range(width)) + " |",
             "|---|---|---:|" + "---:|" * width]
    for r in rows:
        runs = list(r["runs"]) + [""] * (width - len(r["runs"]))
        lines.append(f"| {r['name']} | {r['metric']} | {r['spread']} | " + " | ".join(runs) + " |")
    return "\n".join(lines) + "\n"
