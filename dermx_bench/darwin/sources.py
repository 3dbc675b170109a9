"""Where Darwin files come from: single ``.json`` files, folders and V7 ``.zip`` exports."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dermx_bench.core.errors import InputError


@dataclass(frozen=True)
class RawFile:
    """Bytes of one JSON file and where they came from (``path`` or ``zip!member``).

    ``name`` is the bare file name (no folder), the one rater/image rules read.
    """

    label: str
    name: str
    data: bytes


def iter_sources(sources: Sequence[str | Path]) -> Iterator[RawFile]:
    """Yield every JSON file of the given files, folders (recursively) and ``.zip`` exports, sorted."""
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".json")
            if not files:
                raise InputError(p, "", "folder holds no .json files")
            for f in files:
                yield RawFile(str(f), f.name, f.read_bytes())
        elif p.suffix.lower() == ".zip":
            yield from _iter_zip(p)
        elif p.is_file():
            yield RawFile(str(p), p.name, p.read_bytes())
        else:
            raise InputError(p, "", "no such file or folder")


def _iter_zip(p: Path) -> Iterator[RawFile]:
    try:
        zf = zipfile.ZipFile(p)
    except zipfile.BadZipFile:
        raise InputError(p, "", "not a valid .zip file") from None
    with zf:
        members = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        for info in members:
            name = PurePosixPath(info.filename).name
            if not name.lower().endswith(".json"):
                raise InputError(p, info.filename, "expected only Darwin .json files in the zip")
            yield RawFile(f"{p}!{info.filename}", name, zf.read(info))
