"""Where Darwin files come from: single ``.json`` files, folders and V7 ``.zip`` exports.

Every file is read with a bound: a file (or a zip member, by its declared and by its
actual uncompressed size) larger than ``max_bytes`` (default
:data:`~dermx_bench.core.limits.DEFAULT_MAX_FILE_BYTES`, 64 MiB; ``ingest --max-file-mb``
raises it) is refused without being read whole, so a small zip that expands to
gigabytes cannot fill memory.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dermx_bench.core.errors import InputError, printable
from dermx_bench.core.limits import DEFAULT_MAX_FILE_BYTES


@dataclass(frozen=True)
class RawFile:
    """Bytes of one JSON file and where they came from (``path`` or ``zip!member``).

    ``name`` is the bare file name (no folder), the one rater/image rules read; ``label``
    is printable (bytes of a path that are not UTF-8 shown as ``\\xNN``). ``error`` is
    set (and ``data`` empty) when the file could not be read within the bounds: reading
    it raises that error, so ``--skip-invalid`` can list it like any invalid file.
    """

    label: str
    name: str
    data: bytes
    error: InputError | None = None


def _too_large(label: object, size: int, limit: int) -> InputError:
    return InputError(label, "", f"{size} bytes, more than the limit of {limit} bytes for one Darwin file; "
                                 "pass --max-file-mb to raise it")


def _read_file(p: Path, limit: int) -> RawFile:
    label = printable(p)
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        return RawFile(label, p.name, b"", InputError(p, "", f"cannot read the file ({exc.strerror or exc})"))
    if len(data) > limit:
        return RawFile(label, p.name, b"", _too_large(p, p.stat().st_size, limit))
    return RawFile(label, p.name, data)


def iter_sources(sources: Sequence[str | Path], max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Iterator[RawFile]:
    """Yield every JSON file of the given files, folders (recursively) and ``.zip`` exports, sorted."""
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".json")
            if not files:
                raise InputError(p, "", "folder holds no .json files")
            for f in files:
                yield _read_file(f, max_bytes)
        elif p.suffix.lower() == ".zip":
            yield from _iter_zip(p, max_bytes)
        elif p.is_file():
            yield _read_file(p, max_bytes)
        else:
            raise InputError(p, "", "no such file or folder")


def _iter_zip(p: Path, limit: int) -> Iterator[RawFile]:
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(p, "", f"not a valid .zip file ({exc})") from None
    with zf:
        members = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        for info in members:
            label = f"{printable(p)}!{info.filename}"
            name = PurePosixPath(info.filename).name
            if not name.lower().endswith(".json"):
                raise InputError(p, info.filename, "expected only Darwin .json files in the zip")
            if info.file_size > limit:
                yield RawFile(label, name, b"", _too_large(label, info.file_size, limit))
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(limit + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                # RuntimeError: an encrypted member; NotImplementedError: an unknown compression
                yield RawFile(label, name, b"", InputError(p, info.filename, f"cannot read this member ({exc})"))
                continue
            if len(data) > limit:  # the member declared less than it holds
                yield RawFile(label, name, b"", InputError(label, "", f"holds more than the limit of {limit} bytes "
                                                           f"although its header says {info.file_size}"))
                continue
            yield RawFile(label, name, data)
