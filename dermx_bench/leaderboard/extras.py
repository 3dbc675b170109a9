"""What an entry may carry beside its figures (issue 10): its sanity check and its place
among the dermatologists.

Kept in the entry's folder ``LB/entries/<stem>/``:

- ``sanity.json``: the model randomisation test of the submission
  (``dermx-bench sanity ... --out DIR``, added with ``leaderboard add RUN --sanity DIR/sanity.json``);
- ``as_dermatologist.json``: the run's ``summary.json`` ``as_dermatologist`` block (the model's
  F1 against the raters' fusion among the dermatologists' own, percentile and TOST).

Neither is covered by the entry's digest (they are not made from the run files): the site
shows them as the run and the sanity check wrote them, each validated against its schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import json_document, read_text
from dermx_bench.results.analyses import AsDermatologist, SanityResult
from dermx_bench.results.entry import Entry

SANITY_FILE = "sanity.json"
AS_DERMATOLOGIST_FILE = "as_dermatologist.json"
_PLACES = TypeAdapter(list[AsDermatologist])


@dataclass(frozen=True)
class Extras:
    """An entry's sanity check and place among the dermatologists (None where not kept)."""

    sanity: SanityResult | None = None
    as_dermatologist: list[AsDermatologist] | None = None


def _read(path: Path, what: str) -> object:
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None


def _invalid(path: Path, exc: ValidationError) -> InputError:
    first = exc.errors(include_url=False)[0]
    return InputError(path, ".".join(str(p) for p in first["loc"]) or "(top)", first["msg"])


def read_sanity(path: str | Path, entry: Entry | None = None) -> SanityResult:
    """A ``sanity.json``; with ``entry``, it must be the check of that entry's submission (same name)."""
    p = Path(path)
    try:
        result = SanityResult.model_validate(_read(p, "sanity result"))
    except ValidationError as exc:
        raise _invalid(p, exc) from None
    if entry is not None and result.name != entry.name:
        raise InputError(p, "name", f"is the sanity check of {result.name!r}, not of the entry {entry.name!r}")
    return result


def stage_extras(run: Path, folder: Path, entry: Entry, sanity: str | Path | None) -> Extras:
    """Write the run's extras into the staged entry ``folder``: ``as_dermatologist`` from
    ``RUN/summary.json`` when it has one, and the sanity result given."""
    places = None
    summary = run / "summary.json"
    if summary.is_file():
        doc = _read(summary, "run summary")
        raw = doc.get("as_dermatologist") if isinstance(doc, dict) else None
        if raw is not None:
            try:
                places = _PLACES.validate_python(raw)
            except ValidationError as exc:
                raise _invalid(summary, exc) from None
            (folder / AS_DERMATOLOGIST_FILE).write_text(
                json_document([p.model_dump() for p in places]), encoding="utf-8")
    result = None
    if sanity is not None:
        result = read_sanity(sanity, entry)
        (folder / SANITY_FILE).write_text(json_document(result.model_dump()), encoding="utf-8")
    return Extras(result, places)


def load_extras(folder: Path) -> Extras:
    """The extras kept in an entry's folder (InputError naming the file when one is unreadable)."""
    sanity = read_sanity(folder / SANITY_FILE) if (folder / SANITY_FILE).is_file() else None
    places = None
    p = folder / AS_DERMATOLOGIST_FILE
    if p.is_file():
        try:
            places = _PLACES.validate_python(_read(p, "entry extras"))
        except ValidationError as exc:
            raise _invalid(p, exc) from None
    return Extras(sanity, places)
