"""Ingest Darwin exports into a dataset store: parse, validate, rasterise, encode, commit.

Everything is read and checked before the store is touched; the writing happens
in one transaction, so an ingest either lands whole or not at all. The returned
report (:class:`~dermx_bench.store.ingest_report.IngestReport`) lists everything odd
in the export: annotations skipped (points, lines, skeletons), box-only areas,
multi-slot items, where each rater and image name came from, and warnings when a name
looks like an accidental split (a rater new to a store that already has raters, an
image absent from the metadata).

A store holds masks of one :class:`~dermx_bench.darwin.conventions.MaskConvention`
(``clamp`` unless its first ingest chose ``clip``), recorded in its ``meta`` table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import ConflictError, DermxError, InputError, StoreError, printable
from dermx_bench.core.limits import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_IMAGE_PIXELS,
)
from dermx_bench.core.paths import NAME_RULE, name_problem
from dermx_bench.darwin import raster
from dermx_bench.darwin.conventions import MaskConvention
from dermx_bench.darwin.metadata import ImageMeta, read_metadata
from dermx_bench.darwin.naming import DEFAULT_NAME_PATTERN, FILE_NAME, check_name_pattern
from dermx_bench.darwin.ontology import Ontology, load_ontology
from dermx_bench.darwin.reader import Annotation, Evaluation, Shape, iter_sources, parse_evaluation
from dermx_bench.masks import rle
from dermx_bench.masks.crop import Crop
from dermx_bench.masks.crop import union as crop_union
from dermx_bench.store.db import Store, pack_rings
from dermx_bench.store.ingest_report import EXAMPLES, IngestReport
from dermx_bench.store.selection import select

__all__ = ["IngestReport", "annotation_crops", "characteristic_masks", "default_release", "ingest_sources"]

#: Seconds to sleep inside the write transaction, before COMMIT (tests of kill -9 only).
_PAUSE_ENV = "DERMX_BENCH_TEST_PAUSE_BEFORE_COMMIT"


@dataclass
class _Prepared:
    ev: Evaluation
    release: str
    masks: dict[str, rle.RLE]
    areas: dict[str, int]
    shapes: dict[int, str]  # annotation index -> stored ``shape`` JSON (not for tags and polygons)


def default_release(source: str | Path) -> str:
    """Release label of a source: the parent of an ``annotations`` folder, else the folder/zip stem."""
    p = Path(source).resolve()
    if p.is_file() and p.suffix.lower() == ".json":
        p = p.parent
    if p.name == "annotations":
        p = p.parent
    return printable(p.stem if p.suffix.lower() == ".zip" else p.name)


def annotation_crops(ev: Evaluation, convention: MaskConvention = MaskConvention.CLAMP) -> dict[int, Crop | None]:
    """Each area annotation's pixels, by annotation index; None when it has none in the image.

    Raises :class:`InputError` when a ``clip`` polygon reaches absurdly far outside the image.
    """
    out: dict[int, Crop | None] = {}
    for a in ev.localised:
        try:
            crop = raster.rasterise_annotation(a, ev.height, ev.width, convention)
        except raster.CanvasTooLarge as exc:
            raise InputError(ev.source, f"annotations[{a.index}] ({a.raw_name!r})", str(exc)) from None
        outlined = a.shape in (Shape.POLYGON, Shape.BOX) and convention is MaskConvention.CLAMP  # never empty
        out[a.index] = crop if crop.mask.size and (outlined or crop.mask.any()) else None
    return out


def characteristic_masks(
    ev: Evaluation, convention: MaskConvention = MaskConvention.CLAMP, crops: dict[int, Crop | None] | None = None
) -> dict[str, Crop]:
    """Per localisable characteristic, the union of this rater's annotations of it (METHODS §2).

    A characteristic none of whose annotations has a pixel in the image gets no mask.
    """
    crops = annotation_crops(ev, convention) if crops is None else crops
    by_name: dict[str, list[Crop]] = defaultdict(list)
    for a in ev.localised:
        crop = crops[a.index]
        if crop is not None:
            by_name[a.name].append(crop)
    return {name: crop_union(cs) for name, cs in by_name.items()}


def _shape_json(a: Annotation, crop: Crop | None) -> str | None:
    """What the store keeps of a non-polygon area beside its rings (``annotations.shape``)."""
    if a.shape is Shape.BOX:
        return json.dumps({"type": a.shape.value})
    if a.shape not in (Shape.ELLIPSE, Shape.MASK):
        return None
    doc: dict[str, Any] = {"type": a.shape.value, "counts": rle.encode_crop(crop)["counts"] if crop else None}
    if a.ellipse is not None:
        e = a.ellipse
        doc.update(center=[e.cx, e.cy], radius=[e.rx, e.ry], angle=e.angle)
    if a.mask_id:
        doc["id"] = a.mask_id
    return json.dumps(doc)


def _prepare(ev: Evaluation, release: str, report: IngestReport, convention: MaskConvention) -> _Prepared:
    crops = annotation_crops(ev, convention)  # first: a refused file adds nothing to the report
    report.note_evaluation(ev)
    shapes: dict[int, str] = {}
    for a in ev.localised:
        if crops[a.index] is None:
            report.note_empty(ev, a.index, a.raw_name)
        if (doc := _shape_json(a, crops[a.index])) is not None:
            shapes[a.index] = doc
    masks: dict[str, rle.RLE] = {}
    areas: dict[str, int] = {}
    for name, crop in characteristic_masks(ev, convention, crops).items():
        runs = rle.runs_of_crop(crop)
        masks[name] = rle.encode_runs(runs, crop.shape)
        areas[name] = sum(runs[1::2])
    return _Prepared(ev, release, masks, areas, shapes)


def ingest_sources(
    store_path: str | Path,
    sources: Sequence[str | Path],
    *,
    metadata: str | Path | None = None,
    replace: bool = False,
    skip_invalid: bool = False,
    allow_unknown: bool = False,
    name_pattern: str = DEFAULT_NAME_PATTERN,
    rater: str | None = None,
    strict_types: bool = False,
    mask_convention: MaskConvention | str = MaskConvention.CLAMP,
    release: str | None = None,
    ontology: Ontology | None = None,
    on_file: Callable[[], None] | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> IngestReport:
    """Ingest Darwin files, folders and zips (and optionally a metadata CSV) into a store.

    ``rater`` names the rater of every file (an export of one rater's work);
    ``strict_types`` makes points, lines and skeletons an error instead of skipped;
    ``mask_convention`` chooses how polygons leaving the image are drawn (a store holds
    one convention). Bounds: images of more than ``max_image_pixels`` pixels and files
    (or zip members) of more than ``max_file_bytes`` bytes are invalid files; the store
    waits up to ``lock_timeout`` seconds for another writer. Raises :class:`InputError`
    for the first invalid file (unless ``skip_invalid``, which lists them in the report),
    :class:`ConflictError` when a different file for a rater and image is already stored
    (unless ``replace``), :class:`StoreError` when the store holds masks of another
    convention, is not a dermx-bench store or stays locked. On any error the store is
    unchanged.
    """
    t0 = time.perf_counter()
    check_name_pattern(name_pattern)
    if rater is not None and not rater.strip():
        raise InputError("--rater", repr(rater), "expected a non-empty rater name")
    if rater is not None and (problem := name_problem(rater)) is not None:
        raise InputError("--rater", repr(rater), f"the rater name {problem}; it must be {NAME_RULE}")
    for option, value in (("--max-image-pixels", max_image_pixels), ("--max-file-mb", max_file_bytes)):
        if value < 1:
            raise InputError(option, "", f"must be at least 1, got {value}")
    convention = MaskConvention(mask_convention)
    onto = ontology or load_ontology()
    report = IngestReport(sources=[str(s) for s in sources], mask_convention=convention.value)
    prepared: dict[tuple[str, str], _Prepared] = {}
    for src in sources:
        rel = release or default_release(src)
        for raw in iter_sources([src], max_file_bytes):
            report.files_read += 1
            try:
                ev = parse_evaluation(raw, onto, name_pattern=name_pattern, allow_unknown=allow_unknown,
                                      rater=rater, strict_types=strict_types, max_image_pixels=max_image_pixels)
                if ev.key in prepared:
                    raise InputError(
                        raw.label, "file name",
                        f"rater {ev.rater!r} and image {ev.image!r} already read from {prepared[ev.key].ev.source}",
                    )
                prepared[ev.key] = _prepare(ev, rel, report, convention)
            except InputError as exc:
                if not skip_invalid:
                    raise
                report.invalid.append({"file": exc.file, "error": str(exc)})
                continue
            if on_file is not None:
                on_file()
    _check_sizes(prepared)
    meta = read_metadata(metadata, onto) if metadata is not None else None

    evs = [p.ev for p in prepared.values()]
    report.selection = select(evs, "drop").report()
    report.releases = Counter(p.release for p in prepared.values())
    report.masks = sum(len(p.masks) for p in prepared.values())

    existed = Path(store_path).exists()
    store = Store.open(store_path, create=True, timeout=lock_timeout)
    try:
        with store.transaction() as conn:
            _check_convention(store, convention)
            _warn_names(conn, prepared, meta, report)
            _write(conn, prepared, meta, metadata, replace, report)
            pause = os.environ.get(_PAUSE_ENV)
            if pause:  # a testing hook: lets a test kill the process inside the transaction
                print("paused before commit", file=sys.stderr, flush=True)
                time.sleep(float(pause))
    except DermxError:
        store.close()
        if not existed:  # a failed first ingest leaves no store behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        raise
    store.close()
    report.seconds = time.perf_counter() - t0
    return report


def _check_convention(store: Store, convention: MaskConvention) -> None:
    """A store holds masks of one convention: the first ingest sets it, later ones must match."""
    stored = store.mask_convention()
    if stored is not convention and store.conn.execute("SELECT 1 FROM evaluations LIMIT 1").fetchone():
        raise StoreError(f"{store.path}: holds masks drawn with the {stored.value!r} convention; ingest with "
                         f"--mask-convention {stored.value}, or into a new store for {convention.value!r}")
    store.conn.execute("INSERT OR REPLACE INTO meta VALUES ('mask_convention', ?)", (convention.value,))


def _warn_names(conn: Any, prepared: dict[tuple[str, str], _Prepared], meta: list[ImageMeta] | None,
                report: IngestReport) -> None:
    """Warn when names look like an accidental split: a rater new to a store that has raters, an
    image absent from the metadata (this ingest's, else what the store already holds)."""
    evs = [p.ev for p in prepared.values()]
    known = {r[0] for r in conn.execute("SELECT name FROM raters")}
    if known and (new := _outside([(e.rater, e.rater_origin) for e in evs], known)):
        report.warnings.append(f"{new[0]} rater(s) new to this store: {new[1]}; "
                               "if a name was split wrongly, use --rater or --name-pattern")
    listed = ({m.name for m in meta} if meta is not None else
              {r[0] for r in conn.execute("SELECT name FROM images WHERE file_name IS NOT NULL")})
    if listed and (absent := _outside([(e.image, e.image_origin) for e in evs], listed)):
        hint = "--name-pattern" if {e.image_origin for e in evs if e.image not in listed} == {FILE_NAME} \
            else "--name-pattern or --rater"
        report.warnings.append(f"{absent[0]} image(s) not in the metadata: {absent[1]}; "
                               f"if a name was split wrongly, use {hint}")


def _outside(named: list[tuple[str, str]], known: set[str]) -> tuple[int, str] | None:
    """How many distinct names (with their origins) are not in ``known``, and the first few shown."""
    first: dict[str, str] = {}
    for name, origin in named:
        if name not in known:
            first.setdefault(name, origin)
    if not first:
        return None
    shown = ", ".join(f"{n!r} (from {o})" for n, o in list(first.items())[:EXAMPLES])
    return len(first), shown + (" ..." if len(first) > EXAMPLES else "")


def _check_sizes(prepared: dict[tuple[str, str], _Prepared]) -> None:
    sizes: dict[str, tuple[int, int, str]] = {}
    for p in prepared.values():
        ev = p.ev
        first = sizes.setdefault(ev.image, (ev.width, ev.height, ev.source))
        if first[:2] != (ev.width, ev.height):
            raise InputError(
                ev.source, "image.width/height",
                f"expected {first[0]}x{first[1]} for image {ev.image!r} as in {first[2]}, got {ev.width}x{ev.height}",
            )


def _write(
    conn: Any,
    prepared: dict[tuple[str, str], _Prepared],
    meta: list[ImageMeta] | None,
    meta_path: str | Path | None,
    replace: bool,
    report: IngestReport,
) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    images = {r[1]: (r[0], r[2], r[3]) for r in conn.execute("SELECT id, name, width, height FROM images")}
    raters = {r[1]: r[0] for r in conn.execute("SELECT id, name FROM raters")}
    existing = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            "SELECT ra.name, i.name, e.id, e.sha256 FROM evaluations e "
            "JOIN raters ra ON ra.id = e.rater_id JOIN images i ON i.id = e.image_id"
        )
    }
    conflicts = [
        f"{p.ev.source}: rater {p.ev.rater!r}, image {p.ev.image!r} differs from the stored evaluation"
        for key, p in prepared.items()
        if key in existing and existing[key][1] != p.ev.sha256
    ]
    if conflicts and not replace:
        raise ConflictError(conflicts)

    for key, p in prepared.items():
        ev = p.ev
        if key in existing and existing[key][1] == ev.sha256:
            report.unchanged += 1
            continue
        img = images.get(ev.image)
        if img is None:
            cur = conn.execute(
                "INSERT INTO images (name, width, height) VALUES (?, ?, ?)", (ev.image, ev.width, ev.height)
            )
            images[ev.image] = (cur.lastrowid, ev.width, ev.height)
        elif img[1:] != (ev.width, ev.height):
            raise InputError(
                ev.source, "image.width/height",
                f"expected {img[1]}x{img[2]} for image {ev.image!r} as already stored, got {ev.width}x{ev.height}",
            )
        if ev.rater not in raters:
            raters[ev.rater] = conn.execute("INSERT INTO raters (name) VALUES (?)", (ev.rater,)).lastrowid
        if key in existing:
            _archive(conn, existing[key][0], ev.rater, ev.image, now)
            report.replaced += 1
        else:
            report.added += 1
        _insert(conn, p, images[ev.image][0], raters[ev.rater], now)

    if meta is not None:
        report.metadata = _apply_metadata(conn, meta, meta_path, images)
    rows = conn.execute("SELECT name, gold_diagnosis FROM images ORDER BY name").fetchall()
    report.images = len(rows)
    report.images_without_gold = [r[0] for r in rows if r[1] is None]
    conn.execute(
        "INSERT INTO ingests (at, report) VALUES (?, ?)", (now, json.dumps(report.as_dict(), default=str))
    )


def _insert(conn: Any, p: _Prepared, image_id: int, rater_id: int, now: str) -> None:
    ev = p.ev
    eid = conn.execute(
        "INSERT INTO evaluations (release, rater_id, image_id, format, source, sha256, ingested_at, "
        "diagnoses, discard_tags, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p.release, rater_id, image_id, ev.format, ev.source, ev.sha256, now,
         json.dumps(ev.diagnoses), json.dumps(ev.discard_tags), json.dumps(ev.tags)),
    ).lastrowid
    conn.executemany(
        "INSERT INTO annotations (evaluation_id, idx, name, raw_name, kind, attributes, ring_sizes, "
        "coords, bbox, shape) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (eid, a.index, a.name, a.raw_name, a.kind.value, json.dumps(a.attributes),
             *pack_rings(a.rings), json.dumps(a.bbox) if a.bbox else None, p.shapes.get(a.index))
            for a in ev.annotations
        ],
    )
    conn.executemany(
        "INSERT INTO masks (evaluation_id, characteristic, height, width, counts, area) VALUES (?, ?, ?, ?, ?, ?)",
        [(eid, name, ev.height, ev.width, m["counts"], p.areas[name]) for name, m in p.masks.items()],
    )


def _archive(conn: Any, evaluation_id: int, rater: str, image: str, now: str) -> None:
    """Copy an evaluation (with its annotations) into ``history``, then delete it."""
    row = conn.execute(
        "SELECT release, format, source, sha256, ingested_at, diagnoses, discard_tags, tags "
        "FROM evaluations WHERE id = ?", (evaluation_id,)
    ).fetchone()
    record: dict[str, Any] = dict(zip(("release", "format", "source", "sha256", "ingested_at"), row[:5], strict=True))
    record.update(zip(("diagnoses", "discard_tags", "tags"), map(json.loads, row[5:]), strict=True))
    record["annotations"] = Store(conn, Path()).annotations(evaluation_id)
    conn.execute(
        "INSERT INTO history (replaced_at, rater, image, sha256, record) VALUES (?, ?, ?, ?, ?)",
        (now, rater, image, row[3], json.dumps(record)),
    )
    conn.execute("DELETE FROM evaluations WHERE id = ?", (evaluation_id,))


def _apply_metadata(
    conn: Any, meta: list[ImageMeta], path: str | Path | None, images: dict[str, tuple[int, int, int]]
) -> dict[str, Any]:
    unknown = [m for m in meta if m.name not in images]
    if unknown:
        names = ", ".join(repr(m.name) for m in unknown[:5])
        raise InputError(
            path, f"line {unknown[0].line}",
            f"expected images that are in the store or this ingest; {len(unknown)} are not: {names}"
            + (" ..." if len(unknown) > 5 else ""),
        )
    conn.executemany(
        "UPDATE images SET file_name = ?, gold_diagnosis = ?, dataset = ?, skin_tone = ?, age = ? WHERE name = ?",
        [(m.file_name, m.gold, m.dataset, m.skin_tone, m.age, m.name) for m in meta],
    )
    return {"file": str(path), "rows": len(meta), "with_gold_diagnosis": sum(m.gold is not None for m in meta)}
