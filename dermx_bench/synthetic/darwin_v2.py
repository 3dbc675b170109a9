"""Small V7 Darwin JSON 2.0 documents with every annotation type V7 exports today.

Tests and examples build exports with these instead of copying V7's files: an item
with one or more slots, and annotations that are tags, polygons, boxes, ellipses,
keypoints, lines, skeletons, or brush masks (``mask`` annotations plus the slot's
``raster_layer`` with its row-major dense run-length encoding). Coordinates are
(x, y) pixels; sizes are ``height, width``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Doc = dict[str, Any]


def person(name: str) -> list[dict[str, str]]:
    """An ``annotators`` list of one person (full name ``name``, e-mail ``<name>@example.org``)."""
    return [{"full_name": name, "email": f"{name.lower().replace(' ', '.')}@example.org"}]


def item(name: str, slots: Sequence[tuple[str, int, int]] = (("0", 10, 20),), annotations: Sequence[Doc] = (),
         slot_type: str = "image") -> Doc:
    """A 2.0 document: item ``name`` with ``slots`` of (slot name, height, width)."""
    return {
        "version": "2.0",
        "schema_ref": "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json",
        "item": {"name": name, "path": "/", "slots": [
            {"type": slot_type, "slot_name": s, "width": w, "height": h,
             "source_files": [{"file_name": f"{s}-{name}", "url": ""}]} for s, h, w in slots]},
        "annotations": list(annotations),
    }


def _ann(kind: str, name: str, data: Any, slot: str, ident: str, **extra: Any) -> Doc:
    return {"id": ident or f"{kind}-{name}", "name": name, kind: data, "slot_names": [slot], **extra}


def tag(name: str, slot: str = "0", ident: str = "", **extra: Any) -> Doc:
    return _ann("tag", name, {}, slot, ident, **extra)


def points(xy: Sequence[tuple[float, float]]) -> list[dict[str, float]]:
    return [{"x": float(x), "y": float(y)} for x, y in xy]


def polygon(name: str, *rings: Sequence[tuple[float, float]], slot: str = "0", ident: str = "", **extra: Any) -> Doc:
    xs = [x for r in rings for x, _ in r]
    ys = [y for r in rings for _, y in r]
    box = {"x": min(xs), "y": min(ys), "w": max(xs) - min(xs), "h": max(ys) - min(ys)}
    return _ann("polygon", name, {"paths": [points(r) for r in rings]}, slot, ident, bounding_box=box, **extra)


def box(name: str, x: float, y: float, w: float, h: float, slot: str = "0", ident: str = "", **extra: Any) -> Doc:
    return _ann("bounding_box", name, {"x": x, "y": y, "w": w, "h": h}, slot, ident, **extra)


def ellipse(name: str, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, slot: str = "0",
            ident: str = "", **extra: Any) -> Doc:
    data = {"center": {"x": cx, "y": cy}, "radius": {"x": rx, "y": ry}, "angle": angle}
    return _ann("ellipse", name, data, slot, ident, **extra)


def keypoint(name: str, x: float, y: float, slot: str = "0", ident: str = "") -> Doc:
    return _ann("keypoint", name, {"x": x, "y": y}, slot, ident)


def line(name: str, xy: Sequence[tuple[float, float]], slot: str = "0", ident: str = "") -> Doc:
    return _ann("line", name, {"path": points(xy)}, slot, ident)


def skeleton(name: str, xy: Sequence[tuple[float, float]], slot: str = "0", ident: str = "") -> Doc:
    nodes = [{"name": f"n{i}", "occluded": False, "x": float(x), "y": float(y)} for i, (x, y) in enumerate(xy)]
    return _ann("skeleton", name, {"nodes": nodes}, slot, ident)


def dense_rle(labels: np.ndarray) -> list[int]:
    """Row-major (value, count) pairs of an integer (height, width) label image."""
    flat = np.asarray(labels).ravel(order="C")
    if flat.size == 0:
        return []
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    counts = np.diff(np.concatenate((starts, [flat.size])))
    return [int(v) for pair in zip(flat[starts], counts, strict=True) for v in pair]


def brush(labels: np.ndarray, names: dict[int, str], slot: str = "0", **extra: Any) -> list[Doc]:
    """Brush-mask annotations for a label image: one ``mask`` annotation per value in
    ``names`` (value -> characteristic name) and the slot's ``raster_layer``."""
    h, w = labels.shape
    masks = [_ann("mask", name, {"sparse_rle": None}, slot, f"mask-{v}", **extra) for v, name in names.items()]
    layer = {"dense_rle": dense_rle(labels), "mask_annotation_ids_mapping": {f"mask-{v}": v for v in names},
             "total_pixels": h * w}
    return [*masks, _ann("raster_layer", "__raster_layer__", layer, slot, "raster-layer")]
