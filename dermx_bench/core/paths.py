"""Names that become parts of file names, and paths that must stay inside their folder.

Rater and image names come from annotation content (a file name, a JSON 2.0 annotator's
full name, an item name) and end up in file names (``export masks`` writes
``<rater>_<image>_<Characteristic>.png``, ``fuse`` and ``synth-images`` name files by
image). The **name rule**, checked at ingest (:func:`name_problem`):

- 1 to :data:`MAX_NAME_LENGTH` characters of valid Unicode text (a file name whose bytes
  are not UTF-8 is refused: it cannot be stored or shown faithfully);
- no ``/`` or ``\\`` (path separators), no control characters (NUL, tab, line breaks, ...);
- not starting with ``.`` (no ``.``/``..``, no hidden files) and no space at either end.

Whatever the store holds, every writer also builds its paths with :func:`child`, which
refuses a name that would resolve outside the folder it writes to (a separator, ``..``,
or an existing symbolic link pointing out). Files a folder names for itself (a
submission's weights and entry-point module) are read only when
:func:`outside_problem` finds them inside it.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from dermx_bench.core.errors import InputError, printable

__all__ = ["MAX_NAME_LENGTH", "NAME_RULE", "child", "name_problem", "outside_problem", "printable"]

MAX_NAME_LENGTH = 200
"""Longest rater or image name accepted at ingest (characters)."""

NAME_RULE = (f"1 to {MAX_NAME_LENGTH} characters of UTF-8 text, no '/' or '\\', no control characters, "
             "not starting with '.', no space at either end")
"""The name rule in one line, as error messages quote it."""


def name_problem(name: str) -> str | None:
    """What breaks the name rule (module docstring) in ``name``, or None when it is fine."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "holds bytes that are not UTF-8 text (from a file name)"
    if "/" in name or "\\" in name:
        return "holds a path separator ('/' or '\\')"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "holds a control character"
    if name.startswith("."):
        return "starts with '.'"
    if name != name.strip():
        return "starts or ends with a space"
    return None


def child(folder: str | Path, name: str) -> Path:
    """``folder / name`` for a plain file name that stays inside ``folder``.

    Raises :class:`InputError` (naming the folder and the name) when ``name`` is empty,
    holds a path separator, is ``.``/``..``, or resolves outside ``folder`` (e.g. an
    existing symbolic link pointing out of it).
    """
    base = Path(folder)
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InputError(base, printable(repr(name)), "refused: a file name must not leave its folder")
    target = base / name
    if target.resolve().parent != base.resolve():
        raise InputError(base, printable(repr(name)), "refused: the path resolves outside the folder")
    return target


def outside_problem(folder: str | Path, relative: str | Path) -> str | None:
    """Why ``relative`` is not a file inside ``folder`` (None when it is).

    It must be a relative path without ``..`` that resolves, symbolic links followed,
    to a place inside ``folder``.
    """
    rel = Path(relative)
    if rel.is_absolute():
        return "an absolute path; give a path relative to the folder"
    if ".." in rel.parts:
        return "a path with '..'; the file must be inside the folder"
    base = Path(folder).resolve()
    if not (base / rel).resolve().is_relative_to(base):
        return f"resolves to {(base / rel).resolve()}, outside {base} (a symbolic link out of the folder)"
    return None
