"""Read V7 Darwin exports (JSON 1.0 and 2.0) into typed records.

Reading validates structure and names, and never rasterises. Coordinates stay as
V7 wrote them: floats, (x, y), possibly outside the image. Sources may be single
``.json`` files, folders (searched recursively for ``*.json``) or V7 ``.zip``
exports; every record remembers where it came from and the sha256 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from dermx_bench.core.errors import InputError
from dermx_bench.darwin.ontology import Kind, Ontology

#: Default rule to split ``<rater>_<image stem>.json``: rater up to the first ``_``.
DEFAULT_NAME_PATTERN = r"^(?P<rater>[^_]+)_(?P<image>.+)$"

Point = tuple[float, float]
#: A ring: float64 array (n, 2) of (x, y) vertices in image pixels, n >= 3.
Ring = np.ndarray


@dataclass(frozen=True)
class Annotation:
    """One Darwin annotation.

    ``rings`` holds (x, y) vertices in image pixels, empty for tags. ``name`` is the
    canonical name, ``raw_name`` the spelling in the file.
    """

    index: int
    name: str
    raw_name: str
    kind: Kind
    rings: tuple[Ring, ...] = ()
    attributes: tuple[str, ...] = ()
    raw_attributes: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None

    @property
    def localised(self) -> bool:
        return bool(self.rings)


@dataclass
class Evaluation:
    """One dermatologist's evaluation of one image (one Darwin file)."""

    source: str
    sha256: str
    format: str
    rater: str
    image: str
    image_filename: str
    width: int
    height: int
    annotations: list[Annotation] = field(default_factory=list)

    def names_of(self, kind: Kind) -> list[str]:
        """Canonical names of the tag annotations of ``kind``, in file order, deduplicated."""
        out: list[str] = []
        for a in self.annotations:
            if a.kind is kind and not a.rings and a.name not in out:
                out.append(a.name)
        return out

    @property
    def diagnoses(self) -> list[str]:
        return self.names_of(Kind.DIAGNOSIS)

    @property
    def discard_tags(self) -> list[str]:
        return self.names_of(Kind.DISCARD)

    @property
    def tags(self) -> list[str]:
        """Non-localisable characteristics (and unknown tags when allowed)."""
        return self.names_of(Kind.NON_LOCALISABLE) + self.names_of(Kind.UNKNOWN)

    @property
    def localised(self) -> list[Annotation]:
        return [a for a in self.annotations if a.rings]

    @property
    def key(self) -> tuple[str, str]:
        return (self.rater, self.image)


@dataclass(frozen=True)
class RawFile:
    """Bytes of one JSON file and where they came from (``path`` or ``zip!member``)."""

    label: str
    name: str
    data: bytes


def iter_sources(sources: Sequence[str | Path]) -> Iterator[RawFile]:
    """Yield every JSON file of the given files, folders and ``.zip`` exports, sorted."""
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


class _Ctx:
    """Helpers that raise located errors for one file."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, what: str) -> InputError:
        return InputError(self.label, where, what)

    def obj(self, v: Any, where: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(where, f"expected an object, got {type(v).__name__}")
        return v

    def lst(self, v: Any, where: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(where, f"expected a list, got {type(v).__name__}")
        return v

    def size(self, v: Any, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise self.fail(where, f"expected a positive integer, got {v!r}")
        if int(v) != v:
            raise self.fail(where, f"expected a positive integer, got {v!r}")
        return int(v)

    def ring(self, v: Any, where: str) -> Ring:
        pts = self.lst(v, where)
        try:  # fast path: a list of {"x": number, "y": number}
            xs = [p["x"] for p in pts]
            ys = [p["y"] for p in pts]
        except (TypeError, KeyError):
            xs = ys = []
        if len(xs) == len(pts) and {type(c) for c in xs} | {type(c) for c in ys} <= {int, float}:
            if all(map(math.isfinite, xs)) and all(map(math.isfinite, ys)):
                if len(pts) < 3:
                    raise self.fail(where, f"expected a ring of at least 3 points, got {len(pts)}")
                return np.array((xs, ys), dtype=np.float64).T.copy()
        return self._ring_slow(pts, where)

    def _ring_slow(self, pts: list[Any], where: str) -> Ring:
        """Point-by-point check that names the first bad vertex."""
        out: list[Point] = []
        for i, pt in enumerate(pts):
            w = f"{where}[{i}]"
            pt = self.obj(pt, w)
            xy: list[float] = []
            for axis in ("x", "y"):
                c = pt.get(axis)
                if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
                    raise self.fail(f"{w}.{axis}", f"expected a finite number, got {c!r}")
                xy.append(float(c))
            out.append((xy[0], xy[1]))
        if len(out) < 3:
            raise self.fail(where, f"expected a ring of at least 3 points, got {len(out)}")
        return np.array(out, dtype=np.float64).reshape(-1, 2)


def parse_evaluation(
    raw: RawFile,
    ontology: Ontology,
    *,
    name_pattern: str = DEFAULT_NAME_PATTERN,
    allow_unknown: bool = False,
) -> Evaluation:
    """Parse one Darwin JSON file (1.0 or 2.0) into an :class:`Evaluation`.

    Raises :class:`~dermx_bench.core.errors.InputError` naming the file, the place in it and
    what was expected.
    """
    ctx = _Ctx(raw.label)
    try:
        doc = json.loads(raw.data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ctx.fail(f"byte {exc.start}", "expected UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise ctx.fail(
            f"line {exc.lineno} column {exc.colno}", f"expected valid JSON ({exc.msg})"
        ) from None
    doc = ctx.obj(doc, "top level")
    is_v2 = str(doc.get("version", "")).startswith("2")
    if is_v2:
        item = ctx.obj(doc.get("item"), "item")
        slots = ctx.lst(item.get("slots"), "item.slots")
        if not slots:
            raise ctx.fail("item.slots", "expected at least one slot with width and height")
        slot = ctx.obj(slots[0], "item.slots[0]")
        width = ctx.size(slot.get("width"), "item.slots[0].width")
        height = ctx.size(slot.get("height"), "item.slots[0].height")
        image_filename = str(item.get("name", ""))
        fmt = "darwin-2.0"
    else:
        if "image" not in doc:
            raise ctx.fail("image", "expected an 'image' object (Darwin JSON 1.0) or version 2.0 'item'")
        image = ctx.obj(doc["image"], "image")
        width = ctx.size(image.get("width"), "image.width")
        height = ctx.size(image.get("height"), "image.height")
        image_filename = str(image.get("original_filename") or image.get("filename") or "")
        fmt = "darwin-1.0"
    anns_raw = ctx.lst(doc.get("annotations"), "annotations")
    annotations = [
        _parse_annotation(ctx, a, i, ontology, allow_unknown, is_v2) for i, a in enumerate(anns_raw)
    ]

    who = split_name(raw.name, name_pattern)
    if who is None and is_v2:
        who = _who_from_annotators(ctx, anns_raw, image_filename)
    if who is None:
        raise ctx.fail(
            "file name", f"expected <rater>_<image>.json matching {name_pattern!r}"
            + ("" if not is_v2 else " or annotators in the annotations")
        )
    return Evaluation(
        source=raw.label,
        sha256=hashlib.sha256(raw.data).hexdigest(),
        format=fmt,
        rater=who[0],
        image=who[1],
        image_filename=image_filename,
        width=width,
        height=height,
        annotations=annotations,
    )


def _who_from_annotators(ctx: _Ctx, anns: list[Any], image_filename: str) -> tuple[str, str] | None:
    people = set()
    for a in anns:
        for person in a.get("annotators", []) if isinstance(a, dict) else []:
            if isinstance(person, dict):
                people.add(str(person.get("email") or person.get("full_name") or ""))
    people.discard("")
    if len(people) > 1:
        raise ctx.fail("annotations[].annotators", f"expected one rater per file, found {sorted(people)}")
    if not people or not image_filename:
        return None
    return people.pop(), PurePosixPath(image_filename).stem


def _parse_annotation(
    ctx: _Ctx, a: Any, i: int, ontology: Ontology, allow_unknown: bool, is_v2: bool
) -> Annotation:
    where = f"annotations[{i}]"
    a = ctx.obj(a, where)
    raw_name = a.get("name")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise ctx.fail(f"{where}.name", f"expected a non-empty name, got {raw_name!r}")
    where = f"annotations[{i}] ({raw_name!r})"

    rings: list[Ring] = []
    if "polygon" in a:
        poly = ctx.obj(a["polygon"], f"{where}.polygon")
        if is_v2 or "paths" in poly:
            for j, path in enumerate(ctx.lst(poly.get("paths"), f"{where}.polygon.paths")):
                rings.append(ctx.ring(path, f"{where}.polygon.paths[{j}]"))
        else:
            rings.append(ctx.ring(poly.get("path"), f"{where}.polygon.path"))
    if "complex_polygon" in a:
        cp = ctx.obj(a["complex_polygon"], f"{where}.complex_polygon")
        for j, path in enumerate(ctx.lst(cp.get("path"), f"{where}.complex_polygon.path")):
            rings.append(ctx.ring(path, f"{where}.complex_polygon.path[{j}]"))
    for holder, at in ((a, where), (a.get("polygon"), f"{where}.polygon"),
                       (a.get("complex_polygon"), f"{where}.complex_polygon")):
        if isinstance(holder, dict) and holder.get("additional_paths") is not None:
            for j, path in enumerate(ctx.lst(holder["additional_paths"], f"{at}.additional_paths")):
                rings.append(ctx.ring(path, f"{at}.additional_paths[{j}]"))
    is_tag = "tag" in a
    if not rings and not is_tag:
        kinds = sorted(k for k in a if k not in {"name", "id", "slot_names", "annotators", "reviewers"})
        raise ctx.fail(where, f"expected a tag, polygon or complex_polygon annotation, got keys {kinds}")
    if rings and is_tag:
        raise ctx.fail(where, "expected either a tag or a polygon, not both")

    allowed = (Kind.LOCALISABLE,) if rings else (Kind.DIAGNOSIS, Kind.DISCARD, Kind.NON_LOCALISABLE)
    res = ontology.resolve(raw_name)
    if res.kind is Kind.UNKNOWN and allow_unknown:
        kind = Kind.UNKNOWN
    else:
        kind = ontology.require(raw_name, ctx.label, f"{where}.name", allowed).kind

    raw_attrs = _attributes(ctx, a, where)
    attrs: list[str] = []
    for j, name in enumerate(raw_attrs):
        r = ontology.resolve(name)
        if r.kind is Kind.UNKNOWN and allow_unknown:
            attrs.append(name)
        else:
            attrs.append(ontology.require(name, ctx.label, f"{where}.attributes[{j}]", (Kind.ATTRIBUTE,)).canonical)

    bbox = None
    if isinstance(a.get("bounding_box"), dict):
        b = a["bounding_box"]
        try:
            bbox = (float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"]))
        except (KeyError, TypeError, ValueError):
            raise ctx.fail(f"{where}.bounding_box", "expected numbers x, y, w, h") from None
    return Annotation(
        index=i,
        name=res.canonical,
        raw_name=raw_name,
        kind=kind,
        rings=tuple(rings),
        attributes=tuple(attrs),
        raw_attributes=tuple(raw_attrs),
        bbox=bbox,
    )


def _attributes(ctx: _Ctx, a: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    attrs = a.get("attributes")
    if attrs is not None:
        if isinstance(attrs, dict):  # some exporters nest them as {"attributes": [...]}
            attrs = attrs.get("attributes", [])
        for j, v in enumerate(ctx.lst(attrs, f"{where}.attributes")):
            if not isinstance(v, str):
                raise ctx.fail(f"{where}.attributes[{j}]", f"expected a string, got {v!r}")
            out.append(v)
    props = a.get("properties")
    if props is not None:
        for j, p in enumerate(ctx.lst(props, f"{where}.properties")):
            p = ctx.obj(p, f"{where}.properties[{j}]")
            values = p.get("value")
            for v in values if isinstance(values, list) else [values]:
                if not isinstance(v, str):
                    raise ctx.fail(f"{where}.properties[{j}].value", f"expected a string, got {v!r}")
                out.append(v)
    return out
