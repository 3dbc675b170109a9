"""Read V7 Darwin exports (JSON 1.0 and 2.0) into typed records.

Reading validates structure and names, decodes brush masks exactly, and never
rasterises. Coordinates stay as V7 wrote them: a :data:`Ring` is a float64 array of
shape (n, 2) of (x, y) vertices in image pixels, possibly outside the image. Sources
may be single ``.json`` files, folders (searched recursively for ``*.json``) or V7
``.zip`` exports; every record remembers where it came from and the sha256 of its bytes.

What each V7 annotation type becomes is tabled in :mod:`dermx_bench.darwin.shapes`;
how the rater and image are named, in :mod:`dermx_bench.darwin.naming`.

JSON 2.0 items: all areas of an item must lie on one slot, whose width and height are
the image's (the store holds one size per image); an item with areas on several slots
is refused, and so are video items (``frames``/``ranges`` or a ``video`` slot).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

from dermx_bench.core.limits import DEFAULT_MAX_IMAGE_PIXELS
from dermx_bench.darwin.brush import RasterLayer, decode_dense_rle
from dermx_bench.darwin.fields import Fields
from dermx_bench.darwin.naming import (
    DEFAULT_NAME_PATTERN,
    check_name_pattern,
    check_names,
    name_file,
    split_name,
)
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.darwin.records import Annotation, Ellipse, Evaluation, Point, Ring, Shape, Skipped
from dermx_bench.darwin.shapes import RasterRef, annotation_where, parse_annotation
from dermx_bench.darwin.sources import RawFile, iter_sources

__all__ = [
    "DEFAULT_NAME_PATTERN", "Annotation", "Ellipse", "Evaluation", "Point", "RawFile", "Ring", "Shape",
    "Skipped", "check_name_pattern", "iter_sources", "parse_evaluation", "split_name",
]

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_VIDEO = "video items are not supported (dermx-bench ingests still images); export the frames as images"


def parse_evaluation(
    raw: RawFile,
    ontology: Ontology,
    *,
    name_pattern: str = DEFAULT_NAME_PATTERN,
    allow_unknown: bool = False,
    rater: str | None = None,
    strict_types: bool = False,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Evaluation:
    """Parse one Darwin JSON file (1.0 or 2.0) into an :class:`Evaluation`.

    ``rater`` names the rater of every file (``--rater``); ``strict_types`` makes
    points, lines and skeletons an error instead of skipped; an image of more than
    ``max_image_pixels`` pixels (or a side above
    :data:`~dermx_bench.core.limits.MAX_IMAGE_SIDE`) is refused. Rater and image names
    must follow the name rule of :mod:`dermx_bench.core.paths`. Raises
    :class:`~dermx_bench.core.errors.InputError` naming the file, the place in it and
    what was expected.
    """
    if raw.error is not None:
        raise raw.error
    f = Fields(raw.label)
    try:
        text = raw.data.decode("utf-8")
        doc = json.loads(text)
    except UnicodeDecodeError as exc:
        raise f.fail(f"byte {exc.start}", "expected UTF-8 encoded JSON") from None
    except json.JSONDecodeError as exc:
        raise f.fail(f"line {exc.lineno} column {exc.colno}", f"expected valid JSON ({exc.msg})") from None
    except RecursionError:
        raise f.fail("", "expected JSON nested at most a few hundred levels deep") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise f.fail("", f"expected valid JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(text):
        try:  # a lone surrogate cannot be stored or shown; a pair (an emoji) is fine
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise f.fail("", f"expected text, got a lone surrogate escape ({exc.object[exc.start]!r})") from None
    doc = f.obj(doc, "top level")
    is_v2 = str(doc.get("version", "")).startswith("2")
    anns_raw = f.lst(doc.get("annotations"), "annotations")
    slots: list[dict[str, Any]] = []
    if is_v2:
        item = f.obj(doc.get("item"), "item")
        slots = [f.obj(s, f"item.slots[{k}]") for k, s in enumerate(f.lst(item.get("slots"), "item.slots"))]
        if not slots:
            raise f.fail("item.slots", "expected at least one slot with width and height")
        recorded = ("item.name", str(item.get("name", "")))
        slot_of = _slot_names(f, anns_raw, slots)
    else:
        if "image" not in doc:
            raise f.fail("image", "expected an 'image' object (Darwin JSON 1.0) or version 2.0 'item'")
        image = f.obj(doc["image"], "image")
        width = f.size(image.get("width"), "image.width")
        height = f.size(image.get("height"), "image.height")
        f.image_size(height, width, "image.width/height", max_image_pixels)
        recorded = ("image.original_filename", str(image.get("original_filename") or image.get("filename") or ""))
        slot_of = [""] * len(anns_raw)

    parsed = [
        parse_annotation(f, a, i, ontology, allow_unknown=allow_unknown, is_v2=is_v2,
                         strict_types=strict_types, slot=slot_of[i])
        for i, a in enumerate(anns_raw)
    ]
    slot = ""
    if is_v2:
        slot, height, width = _drawing_slot(f, parsed, slots, max_image_pixels)
    annotations, skipped = _attach_masks(f, parsed, height, width)

    naming = name_file(raw.name, pattern=name_pattern, rater=rater,
                       annotator=_annotator(f, anns_raw) if is_v2 and not rater else None, recorded=recorded)
    if naming is None:
        raise f.fail("file name", f"expected <rater>_<image>.json matching {name_pattern!r}"
                     + (" or annotators in the annotations" if is_v2 else "") + ", or pass --rater NAME")
    check_names(f.label, naming)
    return Evaluation(
        source=raw.label, sha256=hashlib.sha256(raw.data).hexdigest(),
        format="darwin-2.0" if is_v2 else "darwin-1.0", rater=naming.rater, image=naming.image,
        image_filename=recorded[1], width=width, height=height, annotations=annotations, skipped=skipped,
        rater_origin=naming.rater_origin, image_origin=naming.image_origin, naming_note=naming.note,
        slot=slot, slots=max(len(slots), 1),
    )


def _slot_names(f: Fields, anns: list[Any], slots: list[dict[str, Any]]) -> list[str]:
    """The slot each annotation is on (its ``slot_names``, else the first slot); refuse videos."""
    names = [str(s.get("slot_name", k)) for k, s in enumerate(slots)]
    out: list[str] = []
    for i, a in enumerate(anns):
        where = annotation_where(a, i)
        if isinstance(a, dict) and ("frames" in a or "ranges" in a):
            raise f.fail(f"{where}.{'frames' if 'frames' in a else 'ranges'}", _VIDEO)
        given = a.get("slot_names") if isinstance(a, dict) else None
        if not given:
            out.append(names[0])
            continue
        given = f.lst(given, f"{where}.slot_names")
        if len(given) != 1 or str(given[0]) not in names:
            raise f.fail(f"{where}.slot_names", f"expected one of the item's slots {names}, got {given}")
        out.append(str(given[0]))
    return out


def _drawing_slot(
    f: Fields, parsed: list[Annotation | Skipped | RasterRef], slots: list[dict[str, Any]], max_pixels: int
) -> tuple[str, int, int]:
    """The one slot the areas are drawn on (the first slot if none), and its (height, width)."""
    names = [str(s.get("slot_name", k)) for k, s in enumerate(slots)]
    used = sorted({p.slot for p in parsed if isinstance(p, RasterRef) or (isinstance(p, Annotation) and p.localised)},
                  key=names.index)
    if len(used) > 1:
        sizes = ", ".join(f"{n!r} {slots[names.index(n)].get('width')}x{slots[names.index(n)].get('height')}"
                          for n in used)
        raise f.fail("annotations[].slot_names", f"areas drawn on {len(used)} slots ({sizes}); the store holds "
                     "one image size per image, so export each slot as its own item")
    k = names.index(used[0]) if used else 0
    kind = slots[k].get("type", "image")
    if kind == "video":
        raise f.fail(f"item.slots[{k}].type", _VIDEO)
    if kind not in ("image", None):
        raise f.fail(f"item.slots[{k}].type", f"expected an image slot, got {kind!r}")
    height = f.size(slots[k].get("height"), f"item.slots[{k}].height")
    width = f.size(slots[k].get("width"), f"item.slots[{k}].width")
    f.image_size(height, width, f"item.slots[{k}].width/height", max_pixels)
    return names[k], height, width


def _attach_masks(
    f: Fields, parsed: list[Annotation | Skipped | RasterRef], height: int, width: int
) -> tuple[list[Annotation], list[Skipped]]:
    """Give each brush-mask annotation its pixels from the slot's raster layer."""
    refs = [p for p in parsed if isinstance(p, RasterRef)]
    if len(refs) > 1:
        raise f.fail(refs[1].where, f"expected one raster_layer per slot, found {len(refs)}")
    layer = None
    if refs:
        labels, mapping = decode_dense_rle(f, refs[0].data, refs[0].where, height, width)
        layer = RasterLayer(refs[0].index, refs[0].slot, labels, mapping)
    annotations: list[Annotation] = []
    skipped = [p for p in parsed if isinstance(p, Skipped)]
    for p in parsed:
        if not isinstance(p, Annotation):
            continue
        if p.shape is Shape.MASK:
            if layer is None:
                raise f.fail(f"annotations[{p.index}] ({p.raw_name!r}).mask",
                             "expected a raster_layer annotation on its slot holding the brush pixels")
            p = dataclasses.replace(p, pixels=layer.pixels_of(p.mask_id))
        annotations.append(p)
    if layer is not None:
        lost = layer.unclaimed({a.mask_id for a in annotations if a.shape is Shape.MASK})
        if lost:
            skipped.append(Skipped(layer.index, "raster_layer", "raster_layer",
                                   f"{lost} painted pixels belong to no mask annotation"))
    return annotations, sorted(skipped, key=lambda s: s.index)


def _annotator(f: Fields, anns: list[Any]) -> str | None:
    """The one person in the annotations' ``annotators``, or None.

    A person is told apart by e-mail (else full name) and named by full name (else e-mail):
    readable in mask file names and tables, and no address in published results.
    """
    people: dict[str, str] = {}
    for a in anns:
        who = a.get("annotators") if isinstance(a, dict) else None
        for person in who if isinstance(who, list) else []:
            if isinstance(person, dict):
                email, full = str(person.get("email") or ""), str(person.get("full_name") or "")
                if email or full:
                    people[email or full] = full or email
    if len(people) > 1:
        raise f.fail("annotations[].annotators", f"expected one rater per file, found {sorted(people.values())}; "
                     "pass --rater NAME to name the rater yourself")
    return next(iter(people.values()), None)
