"""Leaderboard entries on disk: adding a scored run, loading and validating every entry.

Layout of a leaderboard folder ``LB`` (default ``leaderboard/``)::

    LB/entries/<stem>.json               the run's entry.json (schema: dermx_bench.leaderboard.entry)
    LB/entries/<stem>/scores.csv.gz      the run's scores.csv, so the figures stay checkable
    LB/entries/<stem>/overlays/*.png     the run's overlay figures (shown on the site)

``<stem>`` is :func:`dermx_bench.leaderboard.entry.entry_file_stem` of the entry's display name.
An entry is accepted only when its run's ``scores.csv`` reproduces its figures (the
harness's :func:`dermx_bench.stats.aggregate.aggregate_scores` and ``per_image_union``, with
the entry's bootstrap seed and size, absolute/relative tolerance 1e-9) and its
``vs_baseline`` follows from its per-rater means and baselines: a figure edited by hand
is refused, by ``add_run`` and again by ``validate``.
Writes go to a temporary folder next to the target and are moved into place with
``os.replace``; a failed command leaves the leaderboard as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import DermxError, InputError
from dermx_bench.core.files import swap_folder
from dermx_bench.core.names import METRIC_NAMES, UNION
from dermx_bench.leaderboard.entry import (
    Entry,
    dump_entry,
    entry_file_stem,
    parse_entry,
    read_entry_json,
)

if TYPE_CHECKING:
    import pandas as pd

TOLERANCE = 1e-9
"""Absolute and relative tolerance when comparing recomputed aggregates with an entry."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENTRIES = "entries"
SCORES_FILE = "scores.csv.gz"
OVERLAYS = "overlays"


class LeaderboardError(DermxError):
    """The leaderboard (or an entry being added) is inconsistent; ``problems`` lists why."""

    def __init__(self, problems: list[str], headline: str = "the leaderboard has problems") -> None:
        self.problems = list(problems)
        shown = "\n  ".join(self.problems[:30])
        more = f"\n  ... and {len(self.problems) - 30} more" if len(self.problems) > 30 else ""
        super().__init__(f"{headline}:\n  {shown}{more}" if self.problems else headline)


class MixedStoreError(LeaderboardError):
    """Entries were scored against different stores or baseline options.

    ``groups`` maps ``(content_hash, baseline options as sorted JSON)`` to the entry
    names scored that way.
    """

    def __init__(self, groups: dict[tuple[str, str], list[str]], problems: list[str]) -> None:
        self.groups = groups
        lines = [
            f"store {h[:12]}, baseline options {_fmt_options(json.loads(o))}: {', '.join(names)}"
            for (h, o), names in groups.items()
        ]
        super().__init__(
            lines + problems,
            "entries were scored against different store contents or baseline options "
            "(all entries of one leaderboard must share both; re-score the odd ones)",
        )


def _fmt_options(options: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(options.items())) + "}"


def _store_key(entry: Entry) -> tuple[str, str]:
    return entry.store.content_hash, json.dumps(entry.store.baseline_options, sort_keys=True)


# -- reproducing aggregates ---------------------------------------------------------------


def _number(v: Any) -> float | None:
    """A JSON/NumPy number as float, NaN as None (undefined)."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, str)


def compare_aggregates(
    stated: Any, recomputed: Any, path: str = "localisation", tol: float = TOLERANCE
) -> list[str]:
    """Where ``stated`` (the entry) differs from ``recomputed`` (from scores.csv).

    Walks ``recomputed``: every field it has must be in ``stated`` with the same value
    (numbers within ``tol`` absolute or relative; NaN and null both mean undefined).
    Fields only ``stated`` has below the top level (e.g. saved baselines, which
    scores.csv cannot reproduce) are not compared here. At the top level (characteristics,
    or images) both must have the same keys.
    Returns one line per difference, ``path: entry says X, scores.csv gives Y``.
    """
    return _compare(stated, recomputed, path, tol, top=True)


def _compare(stated: Any, recomputed: Any, path: str, tol: float, top: bool = False) -> list[str]:
    out: list[str] = []
    if isinstance(recomputed, Mapping):
        if not isinstance(stated, Mapping):
            return [f"{path}: entry has {stated!r}, scores.csv gives an object"]
        if top:
            extra = sorted(set(stated) - set(recomputed))
            if extra:
                shown = ", ".join(map(str, extra[:5])) + (" ..." if len(extra) > 5 else "")
                out.append(f"{path}: entry has {len(extra)} key(s) scores.csv lacks: {shown}")
        for key, value in recomputed.items():
            if key not in stated:
                out.append(f"{path}.{key}: missing in the entry, scores.csv gives {value!r}")
                continue
            out += _compare(stated[key], value, f"{path}.{key}", tol)
        return out
    if recomputed is None or _is_number(recomputed):
        a = _number(stated) if (stated is None or _is_number(stated)) else stated
        b = _number(recomputed)
        if a is None and b is None:
            return []
        if (
            a is None or b is None or not isinstance(a, float)
            or not math.isclose(a, b, rel_tol=tol, abs_tol=tol)
        ):
            return [f"{path}: entry says {stated!r}, scores.csv gives {b!r}"]
        return []
    if stated != recomputed:
        return [f"{path}: entry says {stated!r}, scores.csv gives {recomputed!r}"]
    return []


def _close(a: float | None, b: float | None, tol: float = TOLERANCE) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def baseline_problems(entry: Entry, tol: float = TOLERANCE) -> list[str]:
    """Where ``vs_baseline`` does not follow from the per-rater mean and the baseline mean.

    ``difference`` = per-rater mean − baseline mean and ``ratio`` = per-rater mean /
    baseline mean (null when either is undefined, ratio also when the baseline mean is 0).
    """
    out: list[str] = []
    for c, loc in entry.localisation.items():
        for m in METRIC_NAMES:
            a = getattr(loc.per_rater, m).mean
            base = getattr(loc.baseline, m)
            b = None if base is None else base.mean
            diff = None if a is None or b is None else a - b
            ratio = None if a is None or b is None or b == 0 else a / b
            vs = getattr(loc.vs_baseline, m)
            if not _close(vs.difference, diff, tol):
                out.append(f"localisation.{c}.vs_baseline.{m}.difference: entry says "
                           f"{vs.difference!r}, per_rater and baseline give {diff!r}")
            if not _close(vs.ratio, ratio, tol):
                out.append(f"localisation.{c}.vs_baseline.{m}.ratio: entry says "
                           f"{vs.ratio!r}, per_rater and baseline give {ratio!r}")
    return out


def _read_scores(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise InputError(path, "", "scores file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise InputError(path, "", f"cannot read the scores table ({exc})") from None


def check_reproduces(
    entry_file: Path, data: Mapping[str, Any], entry: Entry, scores_path: Path
) -> None:
    """Raise InputError(entry_file, field, ...) unless the entry's figures follow from its scores.

    Recomputes, with the harness's :mod:`dermx_bench.stats.aggregate` and the entry's bootstrap
    seed and size, ``localisation`` (per characteristic and union: ``n_images``,
    per-rater and fusion statistics) and ``per_image_union`` from ``scores_path``, and
    checks ``vs_baseline`` against the per-rater means and the entry's baselines.
    """
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.stats.aggregate import aggregate_scores, per_image_union

    scores = _read_scores(scores_path)
    try:
        recomputed = aggregate_scores(scores, entry.bootstrap.seed, entry.bootstrap.n, load_ontology().order)
        per_image = per_image_union(scores)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(scores_path, "", f"cannot aggregate the scores ({exc})") from None
    diffs = compare_aggregates(data.get("localisation"), recomputed, "localisation")
    diffs += compare_aggregates(data.get("per_image_union"), per_image, "per_image_union")
    diffs += baseline_problems(entry)
    if diffs:
        first = diffs[0].split(":", 1)[0].split(".")[0]
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        raise InputError(
            entry_file, first,
            f"{len(diffs)} figure(s) are not what {scores_path.name} gives (was the entry "
            f"edited by hand?): {shown}",
        )


# -- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEntry:
    """An entry on the leaderboard: its file, stem, validated model and raw dict."""

    path: Path
    stem: str
    entry: Entry
    data: dict[str, Any]

    @property
    def folder(self) -> Path:
        """``entries/<stem>/``: kept scores and overlays (may not exist)."""
        return self.path.parent / self.stem

    @property
    def overlays(self) -> list[Path]:
        """The kept overlay PNGs, checked as when the run was added (plain PNG files only)."""
        return _run_overlays(self.folder)


def entries_dir(lb_dir: str | Path) -> Path:
    return Path(lb_dir) / ENTRIES


def _load_one(path: Path) -> StoredEntry:
    data = read_entry_json(path)
    entry = parse_entry(data, path)
    if path.stem != entry.file_stem:
        raise InputError(
            path, "name",
            f"an entry named {entry.name!r} must be stored as {entry.file_stem}.json",
        )
    return StoredEntry(path, path.stem, entry, data)


def _entry_files(lb_dir: str | Path) -> list[Path]:
    d = entries_dir(lb_dir)
    if not d.is_dir():
        raise InputError(d, "", "no leaderboard entries folder here (add a run first)")
    return sorted(p for p in d.glob("*.json") if not p.name.startswith("."))


def load_entries(lb_dir: str | Path) -> tuple[list[StoredEntry], list[str]]:
    """Every valid entry of the leaderboard, and one problem line per invalid file."""
    good: list[StoredEntry] = []
    problems: list[str] = []
    for path in _entry_files(lb_dir):
        try:
            good.append(_load_one(path))
        except InputError as exc:
            problems.append(str(exc))
    return good, problems


# -- validate -----------------------------------------------------------------------------


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
                    "union_f1": s.entry.localisation[UNION].per_rater.f1.mean,
                    "figures_rechecked": s.entry.name in self.rechecked,
                    "overlays": len(s.overlays),
                }
                for s in self.entries
            ],
            "warnings": self.warnings,
        }


def _consistency_problems(
    entries: list[StoredEntry],
) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for s in entries:
        groups.setdefault(_store_key(s.entry), []).append(s.entry.name)
    problems: list[str] = []
    if len(groups) == 1 and len(entries) > 1:
        first = entries[0]
        for s in entries[1:]:
            if s.entry.human_baseline != first.entry.human_baseline:
                problems.append(
                    f"{s.path}: human_baseline differs from {first.path.name}'s although both "
                    "name the same store and baseline options"
                )
            for c in sorted(set(s.entry.localisation) & set(first.entry.localisation)):
                if s.entry.localisation[c].baseline != first.entry.localisation[c].baseline:
                    problems.append(
                        f"{s.path}: localisation.{c}.baseline differs from {first.path.name}'s "
                        "although both name the same store and baseline options"
                    )
    return groups, problems


def validate(
    lb_dir: str | Path = "leaderboard",
    *,
    recheck: bool = True,
) -> ValidationReport:
    """Check every entry of a leaderboard; raise when anything is wrong.

    Checks: each ``entries/*.json`` is a valid entry stored under its name's stem; with
    ``recheck``, its kept ``scores.csv.gz`` reproduces its figures; all entries share one
    store content hash and baseline options (else :class:`MixedStoreError` naming the
    groups); entries of one store agree on the dermatologists' baseline. Problems of all
    entries are collected and raised together as :class:`LeaderboardError`.
    An entry without kept scores is reported as a warning (figures not re-checked).
    """
    lb = Path(lb_dir)
    good, problems = load_entries(lb)
    report = ValidationReport(lb, [], None, {})
    for s in good:
        scores = s.folder / SCORES_FILE
        if not recheck:
            continue
        if not scores.is_file():
            report.warnings.append(f"{s.path}: no {ENTRIES}/{s.stem}/{SCORES_FILE}; figures not re-checked")
            continue
        try:
            check_reproduces(s.path, s.data, s.entry, scores)
        except InputError as exc:
            problems.append(str(exc))
            continue
        report.rechecked.append(s.entry.name)
    for d in sorted(entries_dir(lb).iterdir()):
        if d.is_dir() and not d.name.startswith(".") and not (d.parent / f"{d.name}.json").exists():
            report.warnings.append(f"{d}: folder without an entry file (left over; safe to delete)")
    groups, more = _consistency_problems(good)
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


# -- add ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddResult:
    """What :func:`add_run` did."""

    name: str
    file: Path
    overlays: int
    replaced: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "file": str(self.file), "overlays": self.overlays,
                "replaced": self.replaced}


def _run_overlays(run: Path) -> list[Path]:
    d = run / OVERLAYS
    if not d.is_dir():
        return []
    files = sorted(p for p in d.glob("*.png") if p.is_file() and not p.name.startswith("."))
    for p in files:
        if p.is_symlink():
            raise InputError(p, "", "a symbolic link; overlays must be plain PNG files")
        with p.open("rb") as fh:
            if fh.read(8) != PNG_SIGNATURE:
                raise InputError(p, "", "not a PNG file (overlays/*.png must be PNG images)")
    return files


def _gzip_bytes(raw: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="scores.csv", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(raw)
    return buf.getvalue()


def add_run(
    run_dir: str | Path,
    lb_dir: str | Path = "leaderboard",
    *,
    replace: bool = False,
) -> AddResult:
    """Add a scored run (``RUN/entry.json`` + ``RUN/scores.csv`` [+ ``RUN/overlays/*.png``]).

    The entry is validated against the schema, its figures are recomputed from
    ``scores.csv`` by :func:`check_reproduces` and must match within 1e-9, and it must name the
    same store content hash and baseline options as the entries already there. An entry
    of the same name is replaced only with ``replace``; a different name that maps to the
    same file stem is refused. The entry, a gzipped copy of ``scores.csv`` and the overlays
    are written to a temporary folder and moved into place; on error nothing changes.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(run, "", "run folder not found")
    entry_path = run / "entry.json"
    data = read_entry_json(entry_path)
    entry = parse_entry(data, entry_path)
    scores_path = run / "scores.csv"
    if not scores_path.is_file():
        raise InputError(
            scores_path, "",
            "not found; an entry is accepted only with the scores.csv it was computed from",
        )
    check_reproduces(entry_path, data, entry, scores_path)
    overlays = _run_overlays(run)

    lb = Path(lb_dir)
    edir = entries_dir(lb)
    stem = entry_file_stem(entry.name)
    target = edir / f"{stem}.json"
    replaced = False
    if target.exists():
        try:
            old_name = read_entry_json(target).get("name")
        except InputError:
            old_name = None
        if old_name != entry.name:
            raise LeaderboardError(
                [f"{target} holds {old_name!r}; names that differ only in punctuation, accents "
                 "or case share a file name. Choose a more distinct name."],
                f"cannot add {entry.name!r}",
            )
        if not replace:
            raise LeaderboardError(
                [f"{target} already holds an entry named {entry.name!r}; pass --replace to "
                 "replace it"],
                f"cannot add {entry.name!r}",
            )
        replaced = True
    if edir.is_dir():
        others, _ = load_entries(lb)
        others = [s for s in others if s.path != target]
        groups, _ = _consistency_problems(others)
        key = _store_key(entry)
        if others and (len(groups) > 1 or key not in groups):
            groups.setdefault(key, []).append(f"{entry.name} (being added)")
            raise MixedStoreError(groups, [])

    edir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".tmp", dir=edir))
    try:
        staged = tmp / "folder"
        (staged / OVERLAYS).mkdir(parents=True)
        (staged / SCORES_FILE).write_bytes(_gzip_bytes(scores_path.read_bytes()))
        for p in overlays:
            shutil.copyfile(p, staged / OVERLAYS / p.name)
        (tmp / "entry.json").write_text(dump_entry(data), encoding="utf-8")
        swap_folder(staged, edir / stem, tmp)
        os.replace(tmp / "entry.json", target)  # the commit point
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return AddResult(entry.name, target, len(overlays), replaced)
