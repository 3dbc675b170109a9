"""The leaderboard entry: the ``entry.json`` a scoring run writes, as a versioned schema.

An entry is one scored submission: who made it, what was scored (submission fields,
weights sha256, store content hash and baseline options, CAM method, target), the
software versions, and the results (localisation per characteristic and for the
``"union"`` of characteristics, per-image union scores, diagnostic performance and the
dermatologists' inter-rater baseline on the same scale). The figures' conventions are
those of :mod:`dermx_bench.results.figures`; ``Stat.n`` counts images for the entry's own
figures and rater pairs for the baseline's.

Versions
--------
- ``schema_version`` is the shape of the file. Version 2 is version 1 plus
  ``figures_version``; version 3 adds ``n_reference_images`` (so the
  coverage ``n_images / n_reference_images`` is known), ``run_files`` (sha256 of the
  run's ``scores.csv`` and ``predictions.csv``) and ``digest`` (:func:`entry_digest`);
  version 4 adds ``compared_with`` (which human reference ``vs_baseline``
  compares with: ``like-for-like`` or ``pairwise``), ``human_baseline.like_for_like`` and
  ``human_baseline.floors`` (the like-for-like reference and the trivial-map floors of
  METHODS §8); version 5 adds ``n_constant_maps`` (maps with one value everywhere, the
  all-zero ones included) and comes with figures version 3 (the metrics of METHODS §9 in
  every figure, diagnostic AUROC). Versions 1 to 4 are still read (their figures were all made with figures
  version 1: compared with the pairwise rater-to-rater table, :attr:`Entry.reference`).
- ``figures_version`` names the rules that computed the figures from ``scores.csv``
  (estimators, bootstrap, the vs-baseline comparison), listed in
  :mod:`dermx_bench.stats.figures`. The leaderboard re-checks an entry with the rules of
  its own figures version, so a later change of rules is never mistaken for a hand edit.
- Every figure of an entry of schema 3 on is either re-computed from the run files kept with
  it (localisation, per-image union scores, diagnosis, ``n_images``,
  ``n_all_zero_maps``: :mod:`dermx_bench.leaderboard.recheck`) or covered by
  ``digest``: the sha256 of the entry's own canonical JSON, which holds ``run_files``.
  Changing any field (``weights_sha256``, ``human_baseline``, ``n_reference_images``,
  ...) or a run file without recomputing the digest is detected. The digest is not a
  signature: whoever recomputes it by this documented rule can still change the
  fields the files cannot reproduce.
- ``name`` is a free display name (it may contain any printable character, ``<script>``
  included; every output format escapes it). The leaderboard stores the entry as
  ``entries/<file stem>.json`` where :func:`entry_file_stem` turns the name into a safe
  file name.

:func:`parse_entry` / :func:`load_entry` validate a dict / file and turn pydantic's
``ValidationError`` into :class:`~dermx_bench.core.errors.InputError` naming the file, the
field path (``localisation.union.per_rater.f1.mean``) and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import json_document, read_text
from dermx_bench.core.names import HUMAN_REFERENCES, PAIRWISE, UNION
from dermx_bench.results.figures import (
    Count,
    Diagnosis,
    HumanBaseline,
    ImageScores,
    Localisation,
    ResultModel,
)

SCHEMA_VERSION: Literal[5] = 5
"""The entry schema version this module writes."""
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4, 5)
"""The entry schema versions this module reads."""
FIRST_FIGURES_VERSION = 1
"""The figures version of every schema-1 entry (they carry no ``figures_version``)."""


class Submission(ResultModel):
    """The submission fields the run was made with (see ``dermx-bench score --help``)."""

    model: str | None
    entry_point: str | None
    classes: list[str] = Field(min_length=1)
    input_size: tuple[Annotated[int, Field(gt=0, strict=True)], Annotated[int, Field(gt=0, strict=True)]]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str
    target_layer: str

    @model_validator(mode="after")
    def _model_or_entry_point(self) -> Submission:
        if self.model is None and self.entry_point is None:
            raise ValueError("one of 'model' (a timm architecture) or 'entry_point' must be set")
        return self


class StoreRef(ResultModel):
    """Which dataset the entry was scored against: store content hash and baseline options."""

    content_hash: str = Field(min_length=1)
    baseline_options: dict[str, str]


class Versions(ResultModel):
    dermx_bench: str
    torch: str
    timm: str
    grad_cam: str
    python: str


class Bootstrap(ResultModel):
    """Bootstrap settings of the intervals: ``n`` resamples with ``seed``."""

    n: Count
    seed: Count


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class RunFiles(ResultModel):
    """sha256 of the run files an entry's figures were computed from (as the run wrote them)."""

    scores_sha256: Sha256
    predictions_sha256: Sha256


SINCE: Mapping[str, int] = {"figures_version": 2, "n_reference_images": 3, "run_files": 3, "digest": 3,
                            "compared_with": 4, "n_constant_maps": 5}
"""The schema version that added each optional field (absent, None, in older schemas)."""

HUMAN_SINCE: Mapping[str, int] = {"like_for_like": 4, "floors": 4}
"""The schema version that added each optional field of ``human_baseline``."""


def _check_name(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    if len(v) > 200:
        raise ValueError("must be at most 200 characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in v):
        raise ValueError("must not contain control characters or line breaks")
    entry_file_stem(v)  # raises ValueError when nothing file-safe is left
    return v


def _check_reference(v: str) -> str:
    if v not in HUMAN_REFERENCES:
        raise ValueError(f"must be one of {', '.join(HUMAN_REFERENCES)}, got {v!r}")
    return v


def _check_date(v: str) -> str:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date/time, got {v!r}") from None
    return v


class Entry(ResultModel):
    """A leaderboard entry (schema version 1 to 5). See the module docstring for conventions."""

    schema_version: Literal[1, 2, 3, 4, 5]
    figures_version: Annotated[int, Field(ge=1, strict=True)] | None = None
    compared_with: Annotated[str, AfterValidator(_check_reference)] | None = None
    name: Annotated[str, AfterValidator(_check_name)]
    authors: list[str]
    description: str
    submission: Submission
    weights_sha256: Sha256
    store: StoreRef
    method: str = Field(min_length=1)
    target: Literal["gold", "predicted"]
    versions: Versions
    date: Annotated[str, AfterValidator(_check_date)]
    bootstrap: Bootstrap
    n_images: Count
    n_reference_images: Count | None = None
    n_all_zero_maps: Count
    n_constant_maps: Count | None = None
    localisation: dict[str, Localisation]
    per_image_union: dict[str, ImageScores]
    diagnosis: Diagnosis
    human_baseline: HumanBaseline
    run_files: RunFiles | None = None
    digest: Sha256 | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        for fld, since in SINCE.items():
            given = getattr(self, fld) is not None
            if self.schema_version < since and given:
                raise ValueError(f"{fld} is not part of entry schema version {self.schema_version} "
                                 f"(write schema_version {since})")
            if self.schema_version >= since and not given and fld != "digest":  # digest: see parse_entry
                raise ValueError(f"entry schema version {self.schema_version} needs {fld}")
        for fld, since in HUMAN_SINCE.items():
            given = getattr(self.human_baseline, fld) is not None
            if self.schema_version < since and given:
                raise ValueError(f"human_baseline.{fld} is not part of entry schema version "
                                 f"{self.schema_version} (write schema_version {since})")
            if self.schema_version >= since and not given:
                raise ValueError(f"entry schema version {self.schema_version} needs human_baseline.{fld}")
        if self.n_reference_images is not None and self.n_images > self.n_reference_images:
            raise ValueError(f"n_images ({self.n_images}) exceeds n_reference_images ({self.n_reference_images})")
        if UNION not in self.localisation:
            raise ValueError(f"localisation must contain the {UNION!r} of characteristics")
        if UNION not in self.human_baseline.localisation:
            raise ValueError(f"human_baseline.localisation must contain {UNION!r}")
        if self.n_constant_maps is not None and not self.n_all_zero_maps <= self.n_constant_maps <= self.n_images:
            raise ValueError(f"n_constant_maps ({self.n_constant_maps}) must lie between n_all_zero_maps "
                             f"({self.n_all_zero_maps}) and n_images ({self.n_images})")
        if self.n_all_zero_maps > self.n_images:
            raise ValueError(
                f"n_all_zero_maps ({self.n_all_zero_maps}) exceeds n_images ({self.n_images})"
            )
        if len(self.per_image_union) > self.n_images:
            raise ValueError(
                f"per_image_union has {len(self.per_image_union)} images, more than n_images "
                f"({self.n_images})"
            )
        return self

    @property
    def reference(self) -> str:
        """The human reference ``vs_baseline`` compares with (``pairwise`` before schema 4)."""
        return PAIRWISE if self.compared_with is None else self.compared_with

    @property
    def figures(self) -> int:
        """The figures version the entry's figures were made with (1 for schema-1 entries)."""
        return FIRST_FIGURES_VERSION if self.figures_version is None else self.figures_version

    @property
    def coverage(self) -> float | None:
        """Images scored / images with a reference (None before schema 3, or with no reference)."""
        if not self.n_reference_images:
            return None
        return self.n_images / self.n_reference_images

    def document(self) -> str:
        """The entry as the JSON text a run writes (see :func:`dump_entry`).

        Fields a schema version does not have are left out, so older entries are written
        as they were read.
        """
        exclude: dict[str, Any] = {f: True for f in SINCE if getattr(self, f) is None}
        old = {f: True for f in HUMAN_SINCE if getattr(self.human_baseline, f) is None}
        if old:
            exclude["human_baseline"] = old
        return dump_entry(self.model_dump(exclude=exclude or None))

    @property
    def file_stem(self) -> str:
        """The safe file name stem of this entry in ``leaderboard/entries/``."""
        return entry_file_stem(self.name)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)  # device names Windows will not use as file names


def entry_file_stem(name: str) -> str:
    """A file-system-safe stem for an entry name (the display name is kept as is).

    Accented letters lose their accents, every run of characters outside
    ``[A-Za-z0-9._-]`` becomes one ``-`` (so ``/``, ``\\``, ``..`` path tricks and
    ``<script>`` cannot reach the file name), leading/trailing ``.-_`` are stripped and
    the result is lower-cased (distinct names that differ only in case would collide
    on case-insensitive file systems) and cut to 80 characters.

    Raises ValueError when nothing is left (e.g. a name made of punctuation only).
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", ascii_name).strip(".-_").lower()[:80].rstrip(".-_")
    stem = re.sub(r"\.{2,}", ".", stem)
    if stem.split(".")[0] in _RESERVED:
        stem = f"{stem}-entry"
    if not stem:
        raise ValueError(
            f"{name!r} leaves no file-safe characters for a file name; "
            "use at least one letter or digit"
        )
    return stem


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _errors_to_input_error(file: object, exc: ValidationError, version: object) -> InputError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _where(first["loc"])
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        what = "required field is missing"
    elif first["type"] == "extra_forbidden":
        what = f"unknown field (not part of entry schema version {version})"
    if len(errors) > 1:
        rest = "; ".join(
            f"{_where(e['loc']) or '(entry)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in errors[1:6]
        )
        more = f" and {len(errors) - 6} more" if len(errors) > 6 else ""
        what += f" (also: {rest}{more})"
    return InputError(file, where or "(entry)", what)


def entry_digest(data: Mapping[str, Any]) -> str:
    """The ``digest`` of an entry: sha256 (hex) of ``dermx-bench entry digest 1\n`` followed by
    the entry's JSON without ``digest``, keys sorted, no spaces (``separators=(",", ":")``),
    UTF-8 kept (``ensure_ascii=False``); ``data`` is the entry as decoded from its file."""
    body = {k: v for k, v in data.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(b"dermx-bench entry digest 1\n" + text.encode("utf-8")).hexdigest()


def parse_entry(data: Any, file: object = "entry.json") -> Entry:
    """Validate a decoded entry dict; errors name ``file`` and the field path.

    Raises InputError(file, field path, message) for a schema violation (a schema-3 file
    without ``digest`` included), and for a ``schema_version`` this toolkit cannot read.
    """
    if not isinstance(data, dict):
        raise InputError(file, "(entry)", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is not None and version not in READABLE_SCHEMA_VERSIONS:
        raise InputError(
            file, "schema_version",
            f"entry schema version {version!r} is not supported (this dermx-bench reads "
            f"versions {', '.join(map(str, READABLE_SCHEMA_VERSIONS))}); re-score the run or "
            "upgrade dermx-bench",
        )
    try:
        entry = Entry.model_validate(data)
    except ValidationError as exc:
        raise _errors_to_input_error(file, exc, version if version is not None else SCHEMA_VERSION) from None
    if entry.schema_version >= SINCE["digest"] and entry.digest is None:
        raise InputError(file, "digest", f"entry schema version {entry.schema_version} needs digest")
    return entry


def read_entry_json(path: str | Path) -> dict[str, Any]:
    """Read an entry file as a plain dict (InputError when missing or not valid JSON)."""
    p = Path(path)
    text = read_text(p, "entry file")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(p, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(p, "", "invalid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise InputError(p, "", str(exc)) from None
    if not isinstance(data, dict):
        raise InputError(p, "(entry)", f"expected a JSON object, got {type(data).__name__}")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; write null for an undefined value")


def load_entry(path: str | Path) -> Entry:
    """Read and validate an entry file (see :func:`parse_entry`)."""
    return parse_entry(read_entry_json(path), path)


def dump_entry(data: dict[str, Any]) -> str:
    """Serialise an entry dict the way runs write it and the leaderboard stores it
    (:func:`dermx_bench.core.files.json_document`: indented, UTF-8, newline)."""
    return json_document(data)
