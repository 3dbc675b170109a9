"""Writing files so that a failed command leaves nothing half-written."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.errors import InputError


def read_text(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """Read a text file; :class:`InputError` naming the file when missing or not UTF-8.

    ``what`` names the file's role in the message, e.g. ``"metadata file"``.
    """
    p = Path(path)
    try:
        return p.read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError(p, "", f"{what} not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(p, f"byte {exc.start}", f"expected a UTF-8 text {what}") from None


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.

    Parent folders are created. On any error the temporary file is removed and
    ``path`` is untouched.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result should not be
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def swap_folder(staged: Path, target: Path, scratch: Path) -> None:
    """Move folder ``staged`` to ``target``, replacing any folder there.

    The old ``target`` is first moved aside into ``scratch`` (an existing folder on the
    same file system, removed by the caller) and put back if the move fails.
    """
    old = scratch / "old"
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise


def json_ready(v: Any) -> Any:
    """A copy of ``v`` that ``json.dumps(allow_nan=False)`` accepts: NaN -> None, numpy -> Python."""
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_ready(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return None if math.isnan(f) else f
    return v


def json_document(obj: Any) -> str:
    """``obj`` as the JSON text of a results file: indent 2, UTF-8 kept, NaN refused, final newline."""
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any, indent: int | None = None) -> Path:
    """:func:`write_atomic` of ``obj`` as JSON (NaN written as null)."""
    return write_atomic(path, json.dumps(json_ready(obj), indent=indent, ensure_ascii=False, allow_nan=False))
