"""Who is writing a store: a note beside it, so a writer that waits in vain can name the holder.

SQLite tells a waiting writer only that the store is locked. While a dermx-bench write
transaction holds the store, it keeps the note ``<store>-writer.json`` (process id, host,
command line, start time) beside it; the note is removed when the transaction ends. A
writer killed with ``kill -9`` leaves its note behind; it is then reported as ended, and
the next writer replaces it. The note is informational: failing to write it never stops a
write.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from dermx_bench.core.files import write_atomic

SUFFIX = "-writer.json"


def note_path(store: Path) -> Path:
    return store.with_name(store.name + SUFFIX)


def note(store: Path) -> Path | None:
    """Write the note of this process (the holder of the store's write lock); its path, or None."""
    doc = {"pid": os.getpid(), "host": socket.gethostname(),
           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
           "since": datetime.now(UTC).isoformat(timespec="seconds")}
    path = note_path(store)
    try:
        write_atomic(path, json.dumps(doc))
    except OSError:
        return None
    return path


def clear(path: Path | None) -> None:
    """Remove a note written by :func:`note`."""
    if path is not None:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def describe(store: Path) -> str:
    """Who holds the store, as far as the note tells."""
    try:
        doc = json.loads(note_path(store).read_text(encoding="utf-8"))
        pid, host = int(doc["pid"]), str(doc["host"])
        command, since = str(doc.get("command", "")), str(doc.get("since", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return "held by a process that left no note (not dermx-bench, or an older version)"
    if host == socket.gethostname() and not _alive(pid):
        return f"the last noted writer, process {pid}, has ended; another process holds it"
    return f"held by process {pid} on {host} since {since}: {command}"
