"""Which rater and which image a Darwin file is, and where each name came from.

Rater, first rule that applies:

1. ``--rater NAME`` (an export folder or zip holding one rater's work): origin ``--rater``;
2. the one person in JSON 2.0 ``annotators``: origin ``annotators`` (their full name,
   else their e-mail);
3. the file name, split by the name pattern (default ``<rater>_<image>.json``, rater up to
   the first ``_``): origin ``file name``.

Image: with the rater from the file name, the pattern's ``image`` group. Otherwise the
pattern's ``image`` group when the file name splits into this same rater; else the image
the file records (2.0 ``item.name``, 1.0 ``image.original_filename``), without its
extension, and without a leading ``<rater>_`` when that is this rater (DermX uploaded each
rater's copy of a photograph under such a name); else the whole file stem.

Both names must follow the name rule of :mod:`dermx_bench.core.paths` (they become parts
of file names): a name that breaks it refuses the file, naming where the name came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from dermx_bench.core.errors import InputError
from dermx_bench.core.paths import NAME_RULE, name_problem

#: Default rule to split ``<rater>_<image stem>.json``: rater up to the first ``_``.
DEFAULT_NAME_PATTERN = r"^(?P<rater>[^_]+)_(?P<image>.+)$"

RATER_OPTION = "--rater"
ANNOTATORS = "annotators"
FILE_NAME = "file name"
FILE_STEM = "file stem"


def check_name_pattern(pattern: str) -> None:
    """Raise :class:`InputError` unless ``pattern`` is a regex with groups ``rater`` and ``image``."""
    try:
        groups = re.compile(pattern).groupindex
    except re.error as exc:
        raise InputError("--name-pattern", pattern, f"expected a valid regular expression ({exc})") from None
    missing = [g for g in ("rater", "image") if g not in groups]
    if missing:
        raise InputError("--name-pattern", pattern, f"expected named groups (?P<rater>...) and (?P<image>...); "
                         f"missing {', '.join(missing)}")


def split_name(file_name: str, pattern: str = DEFAULT_NAME_PATTERN) -> tuple[str, str] | None:
    """Split ``<rater>_<image>.json`` into (rater, image stem) with ``pattern``'s named groups."""
    stem = file_name[:-5] if file_name.lower().endswith(".json") else file_name
    m = re.match(pattern, stem)
    if m is None:
        return None
    return m.group("rater"), m.group("image")


@dataclass(frozen=True)
class Naming:
    """A file's rater and image, each with its origin (see the module docstring).

    ``note`` says when another rule would have named the rater differently.
    """

    rater: str
    rater_origin: str
    image: str
    image_origin: str
    note: str = ""


def name_file(
    file_name: str,
    *,
    pattern: str = DEFAULT_NAME_PATTERN,
    rater: str | None = None,
    annotator: str | None = None,
    recorded: tuple[str, str] | None = None,
) -> Naming | None:
    """Name the rater and image of the file ``file_name`` (rules in the module docstring).

    ``rater`` is ``--rater``; ``annotator`` the one person of 2.0 ``annotators``;
    ``recorded`` (field, value) the image file name the document records. Returns None
    when no rule names a rater.
    """
    split = split_name(file_name, pattern)
    if rater:
        who, origin = rater, RATER_OPTION
    elif annotator:
        who, origin = annotator, ANNOTATORS
    elif split is not None:
        return Naming(split[0], FILE_NAME, split[1], FILE_NAME)
    else:
        return None
    note = ""
    if split is not None and split[0] != who:
        note = f"the file name would give rater {split[0]!r}"
    if split is not None and split[0] == who:
        return Naming(who, origin, split[1], FILE_NAME)
    if recorded is not None and recorded[1]:
        field, value = recorded
        stem = PurePosixPath(value).stem
        inner = split_name(stem, pattern)
        if inner is not None and inner[0] == who:
            return Naming(who, origin, inner[1], f"{field} without '{who}_'", note)
        return Naming(who, origin, stem, field, note)
    return Naming(who, origin, PurePosixPath(file_name).stem, FILE_STEM, note)


def _where(origin: str) -> str:
    """The place in a file an origin names (``annotators`` -> ``annotations[].annotators``)."""
    if origin == ANNOTATORS:
        return "annotations[].annotators"
    return origin.split(" without ")[0]


def check_names(label: str, naming: Naming) -> None:
    """Raise :class:`InputError` (file ``label``, the name's origin) when a name breaks the name rule."""
    for role, name, origin in (("rater", naming.rater, naming.rater_origin),
                               ("image", naming.image, naming.image_origin)):
        problem = name_problem(name)
        if problem is not None:
            hint = "pass --rater NAME or --name-pattern" if role == "rater" else "rename the file or pass --name-pattern"
            raise InputError(label, _where(origin), f"{role} name {name!r} {problem}; names become file names, so "
                             f"they must be {NAME_RULE} ({hint})")
