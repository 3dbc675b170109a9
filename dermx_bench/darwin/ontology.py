"""The DermX ontology: which names exist, what kind each is, and their canonical spelling.

The ontology is a versioned data file, ``annotations/ontology.json`` at the top of the
repository. :func:`load_ontology` reads it; :meth:`Ontology.resolve` maps any known
spelling variant to its canonical name and kind.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from dermx_bench.core.errors import InputError, UnknownNameError
from dermx_bench.core.files import read_text

DEFAULT_ONTOLOGY = Path(__file__).resolve().parents[2] / "annotations" / "ontology.json"


class Kind(StrEnum):
    """What a Darwin annotation name stands for."""

    DIAGNOSIS = "diagnosis"
    DISCARD = "discard"
    NON_LOCALISABLE = "non_localisable"
    LOCALISABLE = "localisable"
    ATTRIBUTE = "attribute"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Resolved:
    """A name as found in a file, its canonical spelling and its kind."""

    raw: str
    canonical: str
    kind: Kind

    @property
    def canonicalised(self) -> bool:
        return self.raw != self.canonical


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


@dataclass
class Ontology:
    """Terms of the DermX protocol, in report order within each kind."""

    version: str
    diagnoses: list[str]
    discard: list[str]
    demographics: list[str]
    distribution: list[str]
    basic: list[str]
    additional: list[str]
    attributes: list[str]
    variants: dict[str, str]
    path: str = ""
    _index: dict[str, tuple[str, Kind]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        groups: list[tuple[list[str], Kind]] = [
            (self.diagnoses, Kind.DIAGNOSIS),
            (self.discard, Kind.DISCARD),
            (self.non_localisable, Kind.NON_LOCALISABLE),
            (self.localisable, Kind.LOCALISABLE),
            (self.attributes, Kind.ATTRIBUTE),
        ]
        for names, kind in groups:
            for name in names:
                if _key(name) in self._index:
                    raise InputError(self.path, name, "each term must appear once in the ontology")
                self._index[_key(name)] = (name, kind)
        for variant, canonical in self.variants.items():
            if _key(canonical) not in self._index:
                raise InputError(
                    self.path, f"variants.{variant}", f"{canonical!r} is not a term of the ontology"
                )
            self._index.setdefault(_key(variant), self._index[_key(canonical)])

    @property
    def non_localisable(self) -> list[str]:
        return self.demographics + self.distribution

    @property
    def localisable(self) -> list[str]:
        return self.basic + self.additional

    @property
    def characteristics(self) -> list[str]:
        """Every characteristic (non-localisable, then localisable), in report order."""
        return self.non_localisable + self.localisable

    def resolve(self, name: str) -> Resolved:
        """Map ``name`` to its canonical spelling and kind (``Kind.UNKNOWN`` if not known)."""
        hit = self._index.get(_key(name))
        if hit is None:
            return Resolved(name, name, Kind.UNKNOWN)
        return Resolved(name, hit[0], hit[1])

    def require(self, name: str, file: object, where: str, allowed: tuple[Kind, ...]) -> Resolved:
        """Resolve ``name`` and check its kind; raise a located error otherwise."""
        res = self.resolve(name)
        if res.kind is Kind.UNKNOWN:
            raise UnknownNameError(
                file, where, f"unknown name {name!r}: not in the ontology ({self.path}); "
                "add it there or pass --allow-unknown to record it as unknown"
            )
        if res.kind not in allowed:
            expected = " or ".join(k.value for k in allowed)
            raise InputError(file, where, f"{name!r} is a {res.kind.value}, expected a {expected}")
        return res

    def order(self, names: list[str]) -> list[str]:
        """Sort names in ontology order; unknown names come last, alphabetically."""
        rank = {n: i for i, n in enumerate(self.diagnoses + self.characteristics)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def load_ontology(path: str | Path | None = None) -> Ontology:
    """Read an ontology JSON file (default: the repository's ``annotations/ontology.json``)."""
    p = Path(path) if path is not None else DEFAULT_ONTOLOGY
    try:
        data = json.loads(read_text(p, "ontology file"))
    except json.JSONDecodeError as exc:
        raise InputError(p, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None
    try:
        return Ontology(
            version=str(data["version"]),
            diagnoses=list(data["diagnoses"]),
            discard=list(data["discard"]),
            demographics=list(data["non_localisable"]["demographics"]),
            distribution=list(data["non_localisable"]["distribution"]),
            basic=list(data["localisable"]["basic"]),
            additional=list(data["localisable"]["additional"]),
            attributes=list(data["attributes"]),
            variants=dict(data.get("variants", {})),
            path=str(p),
        )
    except (KeyError, TypeError) as exc:
        raise InputError(p, str(exc), "missing or malformed ontology section") from None
