"""Read the DermX ``metadata.csv`` (``;``-separated): one row per image.

Required columns: ``current_filename`` (whose stem is the image name used in
annotation file names) and ``diagnosis`` (the gold standard; may be empty).
Optional: ``dataset``, ``skin_tone``, ``age``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path, PurePath

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import read_text
from dermx_bench.darwin.ontology import Kind, Ontology

REQUIRED_COLUMNS = ("current_filename", "diagnosis")


@dataclass(frozen=True)
class ImageMeta:
    """One metadata row. ``line`` is its 1-based line in the file."""

    name: str
    file_name: str
    gold: str | None
    dataset: str | None
    skin_tone: str | None
    age: str | None
    line: int


def read_metadata(path: str | Path, ontology: Ontology) -> list[ImageMeta]:
    """Parse and validate a metadata CSV; raise a located :class:`InputError` on bad rows."""
    p = Path(path)
    text = read_text(p, "metadata file", encoding="utf-8-sig")
    sample = text.split("\n", 1)[0]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            p, "line 1 (header)", f"expected columns {', '.join(REQUIRED_COLUMNS)}; missing {', '.join(missing)}"
        )
    rows: list[ImageMeta] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        file_name = (row.get("current_filename") or "").strip()
        if not file_name:
            raise InputError(p, f"line {line}, column current_filename", "expected an image file name")
        name = PurePath(file_name).stem
        if name in seen:
            raise InputError(p, f"line {line}", f"image {name!r} already listed on line {seen[name]}")
        seen[name] = line
        raw_dx = (row.get("diagnosis") or "").strip()
        gold = None
        if raw_dx:
            gold = ontology.require(raw_dx, p, f"line {line}, column diagnosis", (Kind.DIAGNOSIS,)).canonical
        rows.append(
            ImageMeta(
                name=name,
                file_name=file_name,
                gold=gold,
                dataset=(row.get("dataset") or "").strip() or None,
                skin_tone=(row.get("skin_tone") or "").strip() or None,
                age=(row.get("age") or "").strip() or None,
                line=line,
            )
        )
    return rows
