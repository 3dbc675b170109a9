"""The configuration file of a submission (``submission.toml`` or ``.json``), checked by pydantic.

Fields (see the README for an example)::

    name, authors, description        who made it (authors: a list, or one string)
    model | entry_point               a timm architecture, or "module:function" (--trust-code)
    weights                           a .safetensors/.pt/.pth file inside the submission folder
                                      (no '..', absolute path or symbolic link out of it)
    classes                           one diagnosis name (any spelling the ontology knows) or
                                      "ignore" per model output, in output order
    input_size                        [height, width] of the model input, 8..8192 each
    mean, std                         three numbers each (R, G, B); std > 0
    resize                            "stretch" or "shorter-side+center-crop"
    target_layer                      optional module path; default chosen from the model

:func:`parse_config` validates with the same model library as the leaderboard entries
(pydantic, unknown fields refused) and turns every problem into a
:class:`~dermx_bench.core.errors.SubmissionError` reading ``<file>: <field>: <what was
expected>`` (one line per problem when there are several).
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dermx_bench.core.errors import SubmissionError
from dermx_bench.core.names import IGNORE_CLASS
from dermx_bench.core.paths import outside_problem
from dermx_bench.harness.images import RESIZE_MODES

CONFIG_NAMES = ("submission.toml", "submission.json")
IGNORE = IGNORE_CLASS
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")


def config_error(file: Path, fld: str, what: str) -> SubmissionError:
    """``<file>: <field>: <what>`` (the field left out when empty)."""
    return SubmissionError(f"{file}: {fld}: {what}" if fld else f"{file}: {what}")


def _bad(what: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``what``."""
    return PydanticCustomError("submission", what)


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _bad(f"expected a non-empty string, got {v!r}")
    return v


def _authors(v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(a, str) and a.strip() for a in v):
        raise _bad(f"expected a non-empty list of names, got {v!r}")
    return [a.strip() for a in v]


def _description(v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(f"expected a string, got {v!r}")
    return v


def _entry_point(v: Any) -> str:
    v = _text(v)
    mod, sep, fn = v.partition(":")
    if not sep or not mod or not fn or not all(p.isidentifier() for p in mod.split(".")) \
            or not fn.isidentifier():
        raise _bad(f"expected \"module:function\" (a Python file in the submission folder and a "
                   f"function in it), got {v!r}")
    return v


def _input_size(v: Any) -> tuple[int, int]:
    if not (isinstance(v, list | tuple) and len(v) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) and 8 <= x <= 8192 for x in v)):
        raise _bad(f"expected [height, width], two integers in 8..8192, got {v!r}")
    return (int(v[0]), int(v[1]))


def _rgb(positive: bool) -> Any:
    def check(v: Any) -> tuple[float, float, float]:
        ok = isinstance(v, list | tuple) and len(v) == 3 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v
        )
        if not ok:
            raise _bad(f"expected three finite numbers (R, G, B), got {v!r}")
        if positive and any(x <= 0 for x in v):
            raise _bad(f"every value must be > 0, got {v!r}")
        return (float(v[0]), float(v[1]), float(v[2]))

    return BeforeValidator(check)


def _resize(v: Any) -> str:
    if v not in RESIZE_MODES:
        raise _bad(f"expected one of {', '.join(RESIZE_MODES)}, got {v!r}")
    return str(v)


Text = Annotated[str, BeforeValidator(_text)]


class SubmissionConfig(BaseModel):
    """The fields of ``submission.toml``/``.json``, checked and canonical (no model built).

    ``weights`` is resolved against the submission folder (validation context
    ``folder``); ``classes`` are canonical diagnosis names or ``"ignore"`` (context
    ``ontology``); ``input_size`` is (height, width); ``target_layer`` is as given (None:
    the default layer is chosen when the model is built).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: Text
    authors: Annotated[list[str], BeforeValidator(_authors)]
    description: Annotated[str, BeforeValidator(_description)] = ""
    model: Text | None = None
    entry_point: Annotated[str, BeforeValidator(_entry_point)] | None = None
    weights: Path
    classes: list[str]
    input_size: Annotated[tuple[int, int], BeforeValidator(_input_size)]
    mean: Annotated[tuple[float, float, float], _rgb(positive=False)]
    std: Annotated[tuple[float, float, float], _rgb(positive=True)]
    resize: Annotated[str, BeforeValidator(_resize)]
    target_layer: Text | None = None

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, v: Any, info: ValidationInfo) -> Path:
        name = _text(v)
        folder = Path((info.context or {}).get("folder", "."))
        path = folder / name
        if (outside := outside_problem(folder, name)) is not None:
            raise _bad(f"{name!r}: {outside}")
        if path.suffix not in WEIGHT_SUFFIXES:
            raise _bad(f"{name!r}: expected a {', '.join(WEIGHT_SUFFIXES)} file")
        if not path.is_file():
            raise _bad(f"{path}: no such file")
        return path

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, v: Any, info: ValidationInfo) -> list[str]:
        if not isinstance(v, list) or not v or not all(isinstance(c, str) for c in v):
            raise _bad(f"expected a non-empty list of diagnosis names or \"ignore\", got {v!r}")
        onto = (info.context or {})["ontology"]
        known = list(onto.diagnoses)
        canonical: list[str] = []
        for i, c in enumerate(v):
            if c.strip().casefold() == IGNORE:
                canonical.append(IGNORE)
                continue
            res = onto.resolve(c)
            if res.canonical not in known:
                close = difflib.get_close_matches(c, known, n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _bad(f"[{i}]: {c!r} is not a diagnosis of the ontology{hint}; use one of "
                           f"{', '.join(known)} or \"ignore\"")
            canonical.append(res.canonical)
        named = [c for c in canonical if c != IGNORE]
        if not named:
            raise _bad("every class is \"ignore\"; at least one must be a diagnosis")
        dup = sorted({c for c in named if named.count(c) > 1})
        if dup:
            raise _bad(f"diagnosis listed more than once: {', '.join(dup)}")
        return canonical

    @model_validator(mode="after")
    def _one_source(self) -> SubmissionConfig:
        if (self.model is None) == (self.entry_point is None):
            raise _bad("give exactly one of 'model' (a timm architecture) or 'entry_point' "
                       "(\"module:function\")")
        return self


FIELDS: tuple[str, ...] = tuple(SubmissionConfig.model_fields)

_REQUIRED_HINTS = {
    "authors": "a list of names",
    "mean": "three numbers, one per RGB channel",
    "std": "three numbers, one per RGB channel",
    "input_size": "[height, width]",
    "classes": "one diagnosis name or \"ignore\" per model output",
}


def _problem(err: Any) -> tuple[str, str]:
    """(field, what) of one pydantic error, in the toolkit's words."""
    loc = [str(p) for p in err.get("loc", ())]
    fld = loc[0] if loc else ""
    kind = err.get("type")
    if kind == "missing":
        hint = _REQUIRED_HINTS.get(fld)
        return fld, "missing (required)" + (f": {hint}" if hint else "")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(fld, FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(FIELDS)}"
        return fld, f"unknown field{hint}"
    msg = str(err.get("msg", ""))
    if not fld:  # a model-level rule (exactly one of model / entry_point)
        return "model", msg
    if msg.startswith("[") and "]: " in msg:  # classes[i]: ...
        index, _, rest = msg.partition(": ")
        return f"{fld}{index}", rest
    return fld, msg


def parse_config(cfg: dict[str, Any], config_file: Path, ontology: Any) -> SubmissionConfig:
    """Check every field's type and value (no model is built here).

    ``ontology``: a :class:`~dermx_bench.darwin.ontology.Ontology` resolving class names.
    Raises SubmissionError listing every problem as ``<file>: <field>: <what>``.
    """
    try:
        return SubmissionConfig.model_validate(
            cfg, context={"folder": config_file.parent, "ontology": ontology})
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
    if len(problems) == 1:
        raise config_error(config_file, *problems[0])
    lines = "\n  ".join(f"{f}: {w}" for f, w in problems)
    raise SubmissionError(f"{config_file}: {len(problems)} problems:\n  {lines}")


def find_config(folder: str | Path) -> Path:
    """The configuration file of a submission folder (``submission.toml`` or ``.json``)."""
    p = Path(folder)
    if not p.exists():
        raise SubmissionError(f"{p}: no such submission folder")
    if p.is_file():
        if p.name in CONFIG_NAMES:
            return p
        raise SubmissionError(f"{p}: expected a submission folder holding one of {', '.join(CONFIG_NAMES)}")
    found = [p / n for n in CONFIG_NAMES if (p / n).is_file()]
    if not found:
        raise SubmissionError(f"{p}: no {' or '.join(CONFIG_NAMES)} in the submission folder")
    if len(found) > 1:
        raise SubmissionError(f"{p}: both {CONFIG_NAMES[0]} and {CONFIG_NAMES[1]}; keep only one")
    return found[0]


def read_config(config_file: Path) -> dict[str, Any]:
    """Parse the TOML or JSON configuration; syntax errors name the line."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise config_error(config_file, f"byte {exc.start}", "expected a UTF-8 text file") from None
    except OSError as exc:
        raise config_error(config_file, "", f"cannot read the configuration ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text) if config_file.suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_error(config_file, "", f"invalid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise config_error(config_file, f"line {exc.lineno} column {exc.colno}",
                           f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise config_error(config_file, "", "nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise config_error(config_file, "", f"cannot read the configuration ({exc})") from None
    if not isinstance(data, dict):
        raise config_error(config_file, "", "expected a table/object of fields")
    return data
