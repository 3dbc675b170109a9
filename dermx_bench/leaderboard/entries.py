"""Leaderboard entries on disk: adding a scored run, loading every entry.

Layout of a leaderboard folder ``LB`` (default ``leaderboard/``)::

    LB/entries/<stem>.json                 the run's entry.json (schema: dermx_bench.results.entry)
    LB/entries/<stem>/scores.csv.gz        the run's scores.csv, so the figures stay checkable
    LB/entries/<stem>/predictions.csv.gz   the run's predictions.csv (diagnosis, counts)
    LB/entries/<stem>/overlays/*.png       the run's overlay figures (shown on the site)

``<stem>`` is :func:`dermx_bench.results.entry.entry_file_stem` of the entry's display name.
An entry is accepted only when its run files reproduce its figures and its digest covers
the rest (:mod:`dermx_bench.leaderboard.recheck`); a figure edited by hand is refused, by
``add_run`` and again by :func:`dermx_bench.leaderboard.validate.validate`. Only entries of
the current schema version are added (older ones keep no predictions and no digest: re-score
the run); older entries already on a leaderboard stay readable.
Writes go to a temporary folder next to the target and are moved into place with
``os.replace``; a failed command leaves the leaderboard as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import DermxError, InputError
from dermx_bench.core.files import swap_folder
from dermx_bench.core.paths import child
from dermx_bench.leaderboard.extras import Extras, load_extras, stage_extras
from dermx_bench.leaderboard.recheck import RunFilesOnDisk, check_reproduces
from dermx_bench.leaderboard.seeds import load_seeds, stage_seeds
from dermx_bench.results.entry import (
    SCHEMA_VERSION,
    SINCE,
    Entry,
    dump_entry,
    entry_file_stem,
    parse_entry,
    read_entry_json,
)
from dermx_bench.stats.figures import FiguresVersionError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENTRIES = "entries"
SCORES_FILE = "scores.csv.gz"
PREDICTIONS_FILE = "predictions.csv.gz"
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


# -- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEntry:
    """An entry on the leaderboard: its file, stem and validated entry."""

    path: Path
    stem: str
    entry: Entry

    @property
    def folder(self) -> Path:
        """``entries/<stem>/``: kept run files and overlays (may not exist)."""
        return self.path.parent / self.stem

    @property
    def run_files(self) -> RunFilesOnDisk:
        """The kept run files (``predictions`` None when not kept: entries of schema < 3)."""
        preds = self.folder / PREDICTIONS_FILE
        return RunFilesOnDisk(self.folder / SCORES_FILE, preds if preds.is_file() else None)

    @property
    def seeds(self) -> list[Entry]:
        """The entries of the seed runs kept with this one (none for most entries)."""
        return load_seeds(self.folder)

    @property
    def extras(self) -> Extras:
        """The sanity check and place among the dermatologists kept with the entry."""
        return load_extras(self.folder)

    @property
    def overlays(self) -> list[Path]:
        """The kept overlay PNGs, checked as when the run was added (plain PNG files only)."""
        return _run_overlays(self.folder)


def entries_dir(lb_dir: str | Path) -> Path:
    return Path(lb_dir) / ENTRIES


def _load_one(path: Path) -> StoredEntry:
    entry = parse_entry(read_entry_json(path), path)
    if path.stem != entry.file_stem:
        raise InputError(
            path, "name",
            f"an entry named {entry.name!r} must be stored as {entry.file_stem}.json",
        )
    return StoredEntry(path, path.stem, entry)


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


def _human_parts_differing(a: Entry, b: Entry) -> list[str]:
    """The parts of ``human_baseline`` both entries carry that differ (entries of schemas
    before 3 carry no like-for-like reference or floors)."""
    out = []
    for part in ("localisation", "diagnosis", "like_for_like", "floors"):
        x, y = getattr(a.human_baseline, part), getattr(b.human_baseline, part)
        if x is not None and y is not None and x != y:
            out.append(f"human_baseline.{part}")
    return out


def consistency_problems(
    entries: list[StoredEntry],
) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for s in entries:
        groups.setdefault(_store_key(s.entry), []).append(s.entry.name)
    problems: list[str] = []
    references: dict[tuple[tuple[str, str], str], StoredEntry] = {}
    for s in entries:  # one store and target: one count of images with a reference
        if s.entry.n_reference_images is not None:
            seen = references.setdefault((_store_key(s.entry), s.entry.target), s)
            if seen.entry.n_reference_images != s.entry.n_reference_images:
                problems.append(f"{s.path}: n_reference_images {s.entry.n_reference_images} differs from "
                                f"{seen.path.name}'s {seen.entry.n_reference_images} although both name the same "
                                f"store, baseline options and target")
    if len(groups) == 1 and len(entries) > 1:
        first = entries[0]
        for s in entries[1:]:
            for part in _human_parts_differing(s.entry, first.entry):
                problems.append(
                    f"{s.path}: {part} differs from {first.path.name}'s although both "
                    "name the same store and baseline options"
                )
            if s.entry.reference != first.entry.reference:
                continue  # compared with different references (figures versions); each re-checked alone
            for c in sorted(set(s.entry.localisation) & set(first.entry.localisation)):
                if s.entry.localisation[c].baseline != first.entry.localisation[c].baseline:
                    problems.append(
                        f"{s.path}: localisation.{c}.baseline differs from {first.path.name}'s "
                        "although both name the same store and baseline options"
                    )
    return groups, problems


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


def _gzip_bytes(raw: bytes, name: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(raw)
    return buf.getvalue()


def _check_run_state(run: Path) -> None:
    """Refuse a run folder whose run is not finished (``run_state.json`` says so)."""
    state = run / "run_state.json"
    if not state.is_file():
        return
    try:
        status = json.loads(state.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError, RecursionError) as exc:
        raise InputError(state, "", f"unreadable run state ({exc})") from None
    if status != "complete":
        raise InputError(state, "status", f"the run is {status!r}, not complete; finish it with "
                         "'dermx-bench score ... --resume' first")


def add_run(
    run_dir: str | Path,
    lb_dir: str | Path = "leaderboard",
    *,
    replace: bool = False,
    sanity: str | Path | None = None,
    seed_runs: Sequence[str | Path] = (),
) -> AddResult:
    """Add a finished scored run (``RUN/entry.json``, ``RUN/scores.csv``, ``RUN/predictions.csv``
    [+ ``RUN/overlays/*.png``]).

    The entry is validated against the schema (a version that keeps predictions, coverage and
    a digest: 3, compared with the pairwise table, or the current one), its figures are
    recomputed from its run files by :func:`check_reproduces` and must match within 1e-9,
    the run files and the rest of the entry must match its digest, and it must name the
    same store content hash and baseline options as the entries already there. An entry
    of the same name is replaced only with ``replace``; a different name that maps to the
    same file stem is refused; an entry whose figures version this code cannot compute is
    refused with that reason (re-score the run). The entry, gzipped copies of the run files
    and the overlays are written to a temporary folder and moved into place; on error
    nothing changes. ``sanity``: a ``sanity.json`` of the submission, kept with the entry,
    like the run summary's place among the dermatologists (:mod:`~dermx_bench.leaderboard.extras`).
    ``seed_runs``: runs of the same submission trained with other seeds, checked as the entry's
    own and kept with it (:mod:`~dermx_bench.leaderboard.seeds`).
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(run, "", "run folder not found")
    _check_run_state(run)
    entry_path = run / "entry.json"
    data = read_entry_json(entry_path)
    entry = parse_entry(data, entry_path)
    if entry.schema_version < SINCE["digest"]:
        raise InputError(entry_path, "schema_version", f"entry schema version {entry.schema_version} keeps no "
                         f"predictions, coverage or digest, so its figures cannot all be checked; re-score the run "
                         f"with this dermx-bench (schema version {SCHEMA_VERSION}) to add it")
    files = RunFilesOnDisk(run / "scores.csv", run / "predictions.csv")
    for p in (files.scores, files.predictions):
        if p is not None and not p.is_file():
            raise InputError(p, "", f"not found; an entry is accepted only with the {p.name} it was computed from")
    try:
        check_reproduces(entry_path, entry, files, data)
    except FiguresVersionError as exc:
        raise InputError(entry_path, "figures_version", f"{exc}; re-score the run to add it") from None
    overlays = _run_overlays(run)

    lb = Path(lb_dir)
    edir = entries_dir(lb)
    stem = entry_file_stem(entry.name)
    target = child(edir, f"{stem}.json")
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
        groups, _ = consistency_problems(others)
        key = _store_key(entry)
        if others and (len(groups) > 1 or key not in groups):
            groups.setdefault(key, []).append(f"{entry.name} (being added)")
            raise MixedStoreError(groups, [])

    edir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".tmp", dir=edir))
    try:
        staged = tmp / "folder"
        (staged / OVERLAYS).mkdir(parents=True)
        (staged / SCORES_FILE).write_bytes(_gzip_bytes(files.raw(files.scores), "scores.csv"))
        (staged / PREDICTIONS_FILE).write_bytes(_gzip_bytes(files.raw(run / "predictions.csv"), "predictions.csv"))
        for p in overlays:
            shutil.copyfile(p, child(staged / OVERLAYS, p.name))
        stage_extras(run, staged, entry, sanity)
        stage_seeds(entry, seed_runs, staged, _gzip_bytes)
        (tmp / "entry.json").write_text(dump_entry(data), encoding="utf-8")
        swap_folder(staged, child(edir, stem), tmp)
        os.replace(tmp / "entry.json", target)  # the commit point
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return AddResult(entry.name, target, len(overlays), replaced)
