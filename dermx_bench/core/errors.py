"""Typed errors raised by the library; the CLI turns them into ``Error: ...`` and exit 1."""

from __future__ import annotations


class DermxError(Exception):
    """Base class of every error the toolkit raises on purpose."""


def printable(text: object) -> str:
    """``str(text)`` with bytes that are not UTF-8 (from file names) shown as ``\\xNN`` escapes."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class InputError(DermxError):
    """Bad input: names the file, the place in it and what was expected.

    ``str(err)`` reads ``<file>: <where>: <what>`` (``where`` omitted when empty); a file
    name whose bytes are not UTF-8 is shown with ``\\xNN`` escapes.
    """

    def __init__(self, file: object, where: str, what: str) -> None:
        self.file = printable(file)
        self.where = printable(where)
        self.what = printable(what)
        super().__init__(": ".join(p for p in (self.file, self.where, self.what) if p))


class UnknownNameError(InputError):
    """A term the ontology does not know (use ``--allow-unknown`` to record it)."""


class ConflictError(DermxError):
    """Ingesting would overwrite a different evaluation already in the store."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        shown = "\n  ".join(conflicts[:20])
        more = f"\n  ... and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        super().__init__(
            f"{len(conflicts)} evaluation(s) differ from those already in the store "
            f"(use --replace to replace them and keep the old ones in history):\n  {shown}{more}"
        )


class StoreError(DermxError):
    """The dataset store is missing, of another schema version, or lacks what was asked."""


class RegistryError(DermxError):
    """A name looked up in a registry (fusion rule, CAM method, metric) does not exist.

    The message suggests the closest known names (as timm does), e.g.
    ``unknown fusion rule 'fuzy'; did you mean 'fuzzy'? choose one of: any, full, ...``.
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        import difflib

        self.kind, self.name, self.known = kind, name, list(known)
        self.close = difflib.get_close_matches(str(name), self.known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in self.close)}? " if self.close else ""
        super().__init__(f"unknown {kind} {name!r}; {hint}choose one of: {', '.join(known)}")


class SubmissionError(DermxError):
    """A submitted model folder is invalid (its file, field and what was expected)."""
