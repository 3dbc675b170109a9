"""A run's output folder and its state file: starting, refusing, resuming.

``run_state.json`` records what the run was made with (the plan's fingerprint), when it
started, how many batches are done and the byte length of each partial file in
``.partial/`` after the last complete batch. It is replaced atomically after each batch,
so a killed run resumes from a consistent point.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import DermxError, InputError
from dermx_bench.core.files import json_document, write_atomic

PARTIAL = ".partial"
STATE_FILE = "run_state.json"
STATE_VERSION = 1
MAPS_PART_BIN = "maps.part.bin"
MAPS_PART_CSV = "maps.part.csv"
PARTS = ("scores.part.csv", "predictions.part.csv", MAPS_PART_BIN, MAPS_PART_CSV)
"""The partial files a run appends each batch's rows to."""

RunState = dict[str, Any]
"""The decoded ``run_state.json`` (keys: version, fingerprint, started_at, status,
batches_done, images_done, bytes, and memory_format once chosen)."""


class RunConflictError(DermxError):
    """The output folder holds another run, or a run that cannot be resumed with these inputs."""


def write_state(out: Path, state: RunState) -> None:
    write_atomic(out / STATE_FILE, json_document(state).encode("utf-8"))


def read_state(out: Path) -> RunState | None:
    p = out / STATE_FILE
    if not p.exists():
        return None
    try:
        return dict(json.loads(p.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise RunConflictError(f"{p}: unreadable run state ({exc}); remove the folder to start over") from None


def start_time(now: datetime | None) -> str:
    """The run's start as ISO 8601 UTC seconds: ``now``, else ``SOURCE_DATE_EPOCH`` when set
    (reproducible-builds convention, for identical reruns), else the clock."""
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if epoch:
            try:
                now = datetime.fromtimestamp(int(epoch), UTC)
            except (ValueError, OverflowError, OSError):
                raise InputError("SOURCE_DATE_EPOCH", "", f"expected an integer Unix time, got {epoch!r}") from None
    return (now or datetime.now(UTC)).replace(microsecond=0).isoformat()


def _not_empty(out: Path, resume: bool) -> RunConflictError:
    if resume:
        return RunConflictError(f"{out}: no {STATE_FILE} here, nothing to resume")
    return RunConflictError(f"{out}: the folder exists and is not empty; choose a new --out")


def precheck_out(out: Path, resume: bool) -> None:
    """Fail fast (before loading anything) when ``out`` cannot hold this run."""
    if out.exists() and not out.is_dir():
        raise RunConflictError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE_FILE).exists():
        raise _not_empty(out, resume)
    if resume and not (out / STATE_FILE).exists():
        raise RunConflictError(f"{out}: no run to resume here ({'no such folder' if not out.exists() else 'empty'}); "
                               "leave out --resume to start a new run")
    if (out / STATE_FILE).exists() and not resume:
        state = read_state(out) or {}
        if state.get("status") == "complete":
            leftover = " (or --resume, which removes its leftover .partial folder)" if (out / PARTIAL).exists() else ""
            raise RunConflictError(f"{out}: holds a finished run; choose a new --out{leftover}")
        raise RunConflictError(f"{out}: holds an unfinished run ({state.get('images_done', 0)} images done); "
                               "pass --resume to finish it or choose a new --out")


def discard_new_run(out: Path, existed: bool) -> None:
    """Remove what a run that failed in its first call wrote: the folder as it was before (absent or empty)."""
    import shutil

    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for p in out.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files a killed run left behind (``.<name>.tmp``)."""
    for folder in (out, out / "overlays"):
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink()


def prepare_out(out: Path, fingerprint: dict[str, Any], resume: bool, now: datetime | None) -> RunState:
    """Start a new run in ``out`` (state written) or check that the run there can be resumed."""
    state = read_state(out) if out.exists() else None
    if state is None:
        if out.exists() and any(out.iterdir()):
            raise _not_empty(out, resume)
        state = {"version": STATE_VERSION, "fingerprint": fingerprint, "started_at": start_time(now),
                 "status": "running", "batches_done": 0, "images_done": 0, "bytes": {}}
        (out / PARTIAL).mkdir(parents=True, exist_ok=True)
        (out / "overlays").mkdir(exist_ok=True)
        write_state(out, state)
        return state
    if not resume:
        raise RunConflictError(
            f"{out}: holds a run ({state.get('status')}, {state.get('images_done')} images done); "
            "pass --resume to finish it or choose a new --out"
        )
    _remove_stale_temporaries(out)
    old = state.get("fingerprint", {})
    diffs = [k for k in sorted(set(old) | set(fingerprint)) if old.get(k) != fingerprint.get(k)]
    if diffs:
        raise RunConflictError(
            f"{out}: cannot resume: the run was started with different {', '.join(diffs)} "
            "(same submission, store, photographs and options are needed; start a new --out instead)"
        )
    return state


def open_parts(out: Path, state: RunState) -> None:
    """Create the partial files and cut them back to the last recorded batch."""
    part = out / PARTIAL
    part.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    sizes = state.get("bytes", {})
    for fname in PARTS:
        p = part / fname
        if not p.exists():
            p.touch()
        with open(p, "ab") as fh:
            fh.truncate(int(sizes.get(fname, 0)))


def append(path: Path, data: bytes) -> int:
    """Append ``data`` to ``path``, fsync, and return the new length in bytes."""
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()
