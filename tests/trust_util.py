"""Helpers of the trust tests (issue 9): run the CLI, compare folders before and after."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from dermx_bench.cli import main


def cli(*args: object) -> tuple[int, str]:
    """Exit code and output (stderr and stdout) of ``dermx-bench ARGS``; never a traceback."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.output


def cli_json(*args: object) -> dict[str, Any]:
    """The JSON that a successful ``dermx-bench ARGS --json`` prints on stdout."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def listing(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` -> sha256 of its bytes (``<dir>`` for folders).

    SQLite's ``-wal``/``-shm`` companions of a WAL store, which any reader creates, are
    left out, but a ``-wal`` must hold nothing (no uncommitted or uncheckpointed pages).
    """
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.name.endswith(("-wal", "-shm")):
            assert not p.name.endswith("-wal") or p.stat().st_size == 0, f"{p} holds pages"
            continue
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def refused(code: int, output: str, *needles: str) -> None:
    """Exit 1 with ``Error: ...`` (no traceback) holding every needle."""
    assert code == 1, output
    assert output.startswith("Error: "), output
    assert "Traceback" not in output
    for n in needles:
        assert n in output, (n, output)
