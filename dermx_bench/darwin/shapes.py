"""Parse one Darwin annotation: what V7 type it is and what ingest does with it.

=====================  ===========================================================
V7 type                ingest
=====================  ===========================================================
``tag``                a diagnosis, discard option or non-localisable characteristic
``polygon``,           rings, rasterised like V7 (METHODS §2)
``complex_polygon``
``bounding_box`` only  its 4-corner ring, rasterised like a polygon; flagged as a box
``ellipse``            pixel centres inside the rotated ellipse (``raster.rasterise_ellipse``)
``mask``               the pixels of the item's ``raster_layer`` mapped to its id (exact)
``raster_layer``       decoded once per slot (``brush``); not an annotation of its own
``keypoint``, ``line``,  skipped with a report line (not areas); an error with
``skeleton``, ...      ``strict_types``
=====================  ===========================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dermx_bench.darwin.fields import Fields
from dermx_bench.darwin.ontology import Kind, Ontology
from dermx_bench.darwin.records import Annotation, Ellipse, Ring, Shape, Skipped

#: V7 types that are not areas: skipped (or an error with ``strict_types``).
SKIPPED_TYPES = ("keypoint", "line", "skeleton", "cuboid", "graph", "string", "table", "simple_table")
_AREA_KEYS = ("polygon", "complex_polygon", "ellipse", "mask")
_EXPECTED = ("expected a tag, polygon, complex_polygon, bounding_box, ellipse, mask or raster_layer "
             f"annotation (or one of {', '.join(SKIPPED_TYPES)}, which are skipped)")


class RasterRef:
    """A ``raster_layer`` annotation, decoded later on its slot's size."""

    def __init__(self, index: int, slot: str, data: Any, where: str) -> None:
        self.index, self.slot, self.data, self.where = index, slot, data, where


def annotation_where(a: Any, i: int) -> str:
    name = a.get("name") if isinstance(a, dict) else None
    return f"annotations[{i}] ({name!r})" if isinstance(name, str) else f"annotations[{i}]"


def parse_annotation(
    f: Fields, a: Any, i: int, ontology: Ontology, *, allow_unknown: bool, is_v2: bool,
    strict_types: bool, slot: str,
) -> Annotation | Skipped | RasterRef:
    """Parse ``annotations[i]`` into an :class:`Annotation`, a :class:`Skipped` or a raster layer."""
    where = f"annotations[{i}]"
    a = f.obj(a, where)
    raw_name = a.get("name")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise f.fail(f"{where}.name", f"expected a non-empty name, got {raw_name!r}")
    where = annotation_where(a, i)
    if "raster_layer" in a:
        return RasterRef(i, slot, a["raster_layer"], f"{where}.raster_layer")
    other = [t for t in SKIPPED_TYPES if t in a]
    areas = [t for t in _AREA_KEYS if t in a]
    is_tag = "tag" in a
    if other and not areas and not is_tag:
        if strict_types:
            raise f.fail(where, f"a {other[0]} is not an area; expected a tag or an area "
                                "(leave out --strict-types to skip points, lines and skeletons)")
        return Skipped(i, raw_name, other[0], "not an area")
    if is_tag and (areas or other):
        raise f.fail(where, "expected either a tag or a shape, not both")

    rings: list[Ring] = []
    ellipse = None
    shape = Shape.TAG
    if "ellipse" in a or "mask" in a:
        if len(areas) > 1:
            raise f.fail(where, f"expected one shape, got {' and '.join(areas)}")
        if "ellipse" in a:
            ellipse, shape = _ellipse(f, a["ellipse"], f"{where}.ellipse"), Shape.ELLIPSE
        else:
            _mask(f, a, where)
            shape = Shape.MASK
    elif areas:
        rings, shape = _rings(f, a, where, is_v2), Shape.POLYGON
    elif isinstance(a.get("bounding_box"), dict) and not is_tag:
        shape = Shape.BOX
    elif not is_tag:
        kinds = sorted(k for k in a if k not in {"name", "id", "slot_names", "annotators", "reviewers"})
        raise f.fail(where, f"{_EXPECTED}, got keys {kinds}")

    bbox = _bbox(f, a, where)
    if shape is Shape.BOX and bbox is not None:
        x, y, w, h = bbox
        if not all(map(math.isfinite, bbox)) or w < 0 or h < 0:
            raise f.fail(f"{where}.bounding_box", f"expected finite x, y and w, h >= 0, got {bbox}")
        rings = [box_ring(x, y, w, h)]

    allowed = (Kind.DIAGNOSIS, Kind.DISCARD, Kind.NON_LOCALISABLE) if shape is Shape.TAG else (Kind.LOCALISABLE,)
    res = ontology.resolve(raw_name)
    if res.kind is Kind.UNKNOWN and allow_unknown:
        kind = Kind.UNKNOWN
    else:
        kind = ontology.require(raw_name, f.label, f"{where}.name", allowed).kind
    raw_attrs = _attributes(f, a, where)
    attrs: list[str] = []
    for j, name in enumerate(raw_attrs):
        r = ontology.resolve(name)
        if r.kind is Kind.UNKNOWN and allow_unknown:
            attrs.append(name)
        else:
            attrs.append(ontology.require(name, f.label, f"{where}.attributes[{j}]", (Kind.ATTRIBUTE,)).canonical)
    return Annotation(
        index=i, name=res.canonical, raw_name=raw_name, kind=kind, rings=tuple(rings),
        attributes=tuple(attrs), raw_attributes=tuple(raw_attrs), bbox=bbox, shape=shape,
        ellipse=ellipse, mask_id=str(a.get("id", "")) if shape is Shape.MASK else "", slot=slot,
    )


def box_ring(x: float, y: float, w: float, h: float) -> Ring:
    """The 4-corner ring (x, y), (x+w, y), (x+w, y+h), (x, y+h) of a box."""
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def _rings(f: Fields, a: dict[str, Any], where: str, is_v2: bool) -> list[Ring]:
    rings: list[Ring] = []
    if "polygon" in a:
        poly = f.obj(a["polygon"], f"{where}.polygon")
        if is_v2 or "paths" in poly:
            for j, path in enumerate(f.lst(poly.get("paths"), f"{where}.polygon.paths")):
                rings.append(f.ring(path, f"{where}.polygon.paths[{j}]"))
        else:
            rings.append(f.ring(poly.get("path"), f"{where}.polygon.path"))
    if "complex_polygon" in a:
        cp = f.obj(a["complex_polygon"], f"{where}.complex_polygon")
        for j, path in enumerate(f.lst(cp.get("path"), f"{where}.complex_polygon.path")):
            rings.append(f.ring(path, f"{where}.complex_polygon.path[{j}]"))
    for holder, at in ((a, where), (a.get("polygon"), f"{where}.polygon"),
                       (a.get("complex_polygon"), f"{where}.complex_polygon")):
        if isinstance(holder, dict) and holder.get("additional_paths") is not None:
            for j, path in enumerate(f.lst(holder["additional_paths"], f"{at}.additional_paths")):
                rings.append(f.ring(path, f"{at}.additional_paths[{j}]"))
    if not rings:
        raise f.fail(where, "expected at least one ring in the polygon")
    return rings


def _ellipse(f: Fields, data: Any, where: str) -> Ellipse:
    e = f.obj(data, where)
    cx, cy = f.point(e.get("center"), f"{where}.center")
    r = f.obj(e.get("radius"), f"{where}.radius")
    rx = f.number(r.get("x"), f"{where}.radius.x", minimum=0)
    ry = f.number(r.get("y"), f"{where}.radius.y", minimum=0)
    angle = f.number(e.get("angle", 0.0), f"{where}.angle")
    return Ellipse(cx, cy, rx, ry, angle)


def _mask(f: Fields, a: dict[str, Any], where: str) -> None:
    m = f.obj(a["mask"], f"{where}.mask")
    if m.get("sparse_rle") is not None:
        raise f.fail(f"{where}.mask.sparse_rle", "expected null (V7 keeps a brush mask's pixels in the "
                                                  "item's raster_layer); sparse masks are not supported")
    if not isinstance(a.get("id"), str) or not a["id"]:
        raise f.fail(f"{where}.id", "expected the mask annotation's id (the raster_layer maps ids to values)")


def _bbox(f: Fields, a: dict[str, Any], where: str) -> tuple[float, float, float, float] | None:
    if not isinstance(a.get("bounding_box"), dict):
        return None
    b = a["bounding_box"]
    try:
        return float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"])
    except (KeyError, TypeError, ValueError):
        raise f.fail(f"{where}.bounding_box", "expected numbers x, y, w, h") from None


def _attributes(f: Fields, a: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    attrs = a.get("attributes")
    if attrs is not None:
        if isinstance(attrs, dict):  # some exporters nest them as {"attributes": [...]}
            attrs = attrs.get("attributes", [])
        for j, v in enumerate(f.lst(attrs, f"{where}.attributes")):
            if not isinstance(v, str):
                raise f.fail(f"{where}.attributes[{j}]", f"expected a string, got {v!r}")
            out.append(v)
    props = a.get("properties")
    if props is not None:
        for j, p in enumerate(f.lst(props, f"{where}.properties")):
            p = f.obj(p, f"{where}.properties[{j}]")
            values = p.get("value")
            for v in values if isinstance(values, list) else [values]:
                if not isinstance(v, str):
                    raise f.fail(f"{where}.properties[{j}].value", f"expected a string, got {v!r}")
                out.append(v)
    return out
