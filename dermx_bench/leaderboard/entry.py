"""The leaderboard entry: the ``entry.json`` a scoring run writes, as a versioned schema.

An entry is one scored submission: who made it, what was scored (submission fields,
weights sha256, store content hash and baseline options, CAM method, target), the
software versions, and the results (localisation per characteristic and for the
``"union"`` of characteristics, per-image union scores, diagnostic performance and the
dermatologists' inter-rater baseline on the same scale).

Conventions
-----------
- Every metric (``Stat.mean``, ``ci_low``, ``ci_high``, per-image values, accuracy, F1,
  sensitivity, specificity) lies in [0, 1]; ``null`` means undefined (METHODS §4: e.g.
  sensitivity against an empty reference). NaN and infinities are refused: write ``null``.
- ``Stat.n`` is the number of values the statistic was computed from (images, or rater
  pairs for a baseline); ``std`` is the sample std (ddof 1) and ``ci_low``/``ci_high`` a
  bootstrap 95% interval.
- ``vs_baseline.<metric>.difference`` = entry mean − baseline mean, ``ratio`` = entry
  mean / baseline mean (``null`` when either is undefined or the baseline mean is 0).
- ``name`` is a free display name (it may contain any printable character, ``<script>``
  included; every output format escapes it). The leaderboard stores the entry as
  ``entries/<file stem>.json`` where :func:`entry_file_stem` turns the name into a safe
  file name.

:func:`parse_entry` / :func:`load_entry` validate a dict / file and turn pydantic's
``ValidationError`` into :class:`~dermx_bench.core.errors.InputError` naming the file, the
field path (``localisation.union.per_rater.f1.mean``) and what was expected.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import read_text
from dermx_bench.core.names import UNION

SCHEMA_VERSION = 1
"""The entry schema version this module reads and writes."""


_EPS = 1e-9  # tolerance for sums of values in [0, 1] landing a hair outside


def _finite(v: float | None) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError("must be a finite number (write null for an undefined value)")
    return v


def _unit(v: float | None) -> float | None:
    _finite(v)
    if v is not None and not (-_EPS <= v <= 1 + _EPS):
        raise ValueError(f"must lie in [0, 1], got {v}")
    return v


Finite = Annotated[float | None, AfterValidator(_finite)]
"""A float or null; NaN/inf refused."""
Unit = Annotated[float | None, AfterValidator(_unit)]
"""A float in [0, 1] or null."""
UnitReq = Annotated[float, AfterValidator(_unit)]
"""A float in [0, 1] (required)."""
Count = Annotated[int, Field(ge=0, strict=True)]
"""A non-negative integer (``true``/``1.0`` refused)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stat(_Model):
    """A metric aggregated over ``n`` values: mean, sample std and bootstrap 95% interval."""

    mean: Unit
    std: Finite
    ci_low: Unit
    ci_high: Unit
    n: Count

    @field_validator("std")
    @classmethod
    def _std_non_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"a standard deviation cannot be negative, got {v}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Stat:
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high + _EPS:
            raise ValueError(f"ci_low ({self.ci_low}) is above ci_high ({self.ci_high})")
        return self


class MetricStats(_Model):
    """F1, sensitivity and specificity, each a :class:`Stat`."""

    f1: Stat
    sensitivity: Stat
    specificity: Stat


class BaselineStats(_Model):
    """The inter-rater baseline of one characteristic (``null`` where none was saved)."""

    f1: Stat | None
    sensitivity: Stat | None
    specificity: Stat | None


class Comparison(_Model):
    """Entry vs baseline: ``difference`` = entry − baseline, ``ratio`` = entry / baseline."""

    difference: Finite
    ratio: Finite


class VsBaseline(_Model):
    f1: Comparison
    sensitivity: Comparison
    specificity: Comparison


class Localisation(_Model):
    """Localisation results of one characteristic (or of the union) over ``n_images`` images."""

    n_images: Count
    per_rater: MetricStats
    fusion: MetricStats
    baseline: BaselineStats
    vs_baseline: VsBaseline


class Submission(_Model):
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


class StoreRef(_Model):
    """Which dataset the entry was scored against: store content hash and baseline options."""

    content_hash: str = Field(min_length=1)
    baseline_options: dict[str, str]


class Versions(_Model):
    dermx_bench: str
    torch: str
    timm: str
    grad_cam: str
    python: str


class Bootstrap(_Model):
    """Bootstrap settings of the intervals: ``n`` resamples with ``seed``."""

    n: Count
    seed: Count


class ImageScores(_Model):
    """Union-of-characteristics scores of one image (averaged over raters)."""

    f1: Unit
    sensitivity: Unit
    specificity: Unit


class ClassScores(_Model):
    """One-vs-rest diagnostic scores of one disease over ``n`` images of it."""

    f1: Unit
    sensitivity: Unit
    specificity: Unit
    n: Count


class Confusion(_Model):
    """Confusion matrix: ``matrix[i][j]`` = images of gold ``labels[i]`` predicted ``labels[j]``."""

    labels: list[str]
    matrix: list[list[Count]]

    @model_validator(mode="after")
    def _square(self) -> Confusion:
        k = len(self.labels)
        if len(set(self.labels)) != k:
            raise ValueError("labels must be distinct")
        if len(self.matrix) != k or any(len(row) != k for row in self.matrix):
            raise ValueError(f"matrix must be {k}x{k} to match the {k} labels")
        return self


class Diagnosis(_Model):
    accuracy: UnitReq
    macro_f1: UnitReq
    per_class: dict[str, ClassScores]
    confusion: Confusion


class HumanDiagnosis(_Model):
    accuracy: UnitReq
    macro_f1: UnitReq


class HumanBaseline(_Model):
    """The dermatologists' inter-rater agreement on the same columns as the entries."""

    localisation: dict[str, MetricStats]
    diagnosis: HumanDiagnosis


def _check_name(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty")
    if len(v) > 200:
        raise ValueError("must be at most 200 characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in v):
        raise ValueError("must not contain control characters or line breaks")
    entry_file_stem(v)  # raises ValueError when nothing file-safe is left
    return v


def _check_date(v: str) -> str:
    try:
        datetime.fromisoformat(v)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date/time, got {v!r}") from None
    return v


class Entry(_Model):
    """A leaderboard entry (schema version 1). See the module docstring for conventions."""

    schema_version: Literal[1]
    name: Annotated[str, AfterValidator(_check_name)]
    authors: list[str]
    description: str
    submission: Submission
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    store: StoreRef
    method: str = Field(min_length=1)
    target: Literal["gold", "predicted"]
    versions: Versions
    date: Annotated[str, AfterValidator(_check_date)]
    bootstrap: Bootstrap
    n_images: Count
    n_all_zero_maps: Count
    localisation: dict[str, Localisation]
    per_image_union: dict[str, ImageScores]
    diagnosis: Diagnosis
    human_baseline: HumanBaseline

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if UNION not in self.localisation:
            raise ValueError(f"localisation must contain the {UNION!r} of characteristics")
        if UNION not in self.human_baseline.localisation:
            raise ValueError(f"human_baseline.localisation must contain {UNION!r}")
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


def _errors_to_input_error(file: object, exc: ValidationError) -> InputError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _where(first["loc"])
    what = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        what = "required field is missing"
    elif first["type"] == "extra_forbidden":
        what = f"unknown field (not part of entry schema version {SCHEMA_VERSION})"
    if len(errors) > 1:
        rest = "; ".join(
            f"{_where(e['loc']) or '(entry)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in errors[1:6]
        )
        more = f" and {len(errors) - 6} more" if len(errors) > 6 else ""
        what += f" (also: {rest}{more})"
    return InputError(file, where or "(entry)", what)


def parse_entry(data: Any, file: object = "entry.json") -> Entry:
    """Validate a decoded entry dict; errors name ``file`` and the field path.

    Raises InputError(file, field path, message) for a schema violation, and for a
    ``schema_version`` this toolkit cannot read.
    """
    if not isinstance(data, dict):
        raise InputError(file, "(entry)", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is not None and version != SCHEMA_VERSION:
        raise InputError(
            file, "schema_version",
            f"entry schema version {version!r} is not supported (this dermx-bench reads "
            f"version {SCHEMA_VERSION}); re-score the run or upgrade dermx-bench",
        )
    try:
        return Entry.model_validate(data)
    except ValidationError as exc:
        raise _errors_to_input_error(file, exc) from None


def read_entry_json(path: str | Path) -> dict[str, Any]:
    """Read an entry file as a plain dict (InputError when missing or not valid JSON)."""
    p = Path(path)
    text = read_text(p, "entry file")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(p, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None
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
    """Serialise an entry dict the way the leaderboard stores it (stable, UTF-8, newline)."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
