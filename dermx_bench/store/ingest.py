"""Ingest Darwin exports into a dataset store: parse, validate, rasterise, encode, commit.

Everything is read and checked before the store is touched; the writing happens
in one transaction, so an ingest either lands whole or not at all. The returned
report lists everything odd in the export (see :class:`IngestReport`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import ConflictError, DermxError, InputError
from dermx_bench.darwin import raster
from dermx_bench.darwin.metadata import ImageMeta, read_metadata
from dermx_bench.darwin.ontology import Kind, Ontology, load_ontology
from dermx_bench.darwin.reader import (
    DEFAULT_NAME_PATTERN,
    Evaluation,
    check_name_pattern,
    iter_sources,
    parse_evaluation,
)
from dermx_bench.masks import rle
from dermx_bench.masks.crop import Crop
from dermx_bench.masks.crop import union as crop_union
from dermx_bench.store.db import Store, pack_rings
from dermx_bench.store.selection import select

#: Seconds to sleep inside the write transaction, before COMMIT (tests of kill -9 only).
_PAUSE_ENV = "DERMX_BENCH_TEST_PAUSE_BEFORE_COMMIT"
_EXAMPLES = 5


@dataclass
class IngestReport:
    """What an ingest read, wrote and found odd. ``as_dict()`` is its JSON form."""

    sources: list[str]
    files_read: int = 0
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    invalid: list[dict[str, str]] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    localised_annotations: int = 0
    tag_annotations: int = 0
    masks: int = 0
    canonicalised: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    geometry: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: int = 0
    images_without_gold: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    releases: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def evaluations_read(self) -> int:
        return self.added + self.unchanged + self.replaced

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "files_read": self.files_read,
            "evaluations": {
                "read": self.evaluations_read,
                "added": self.added,
                "unchanged": self.unchanged,
                "replaced": self.replaced,
                "by_release": dict(self.releases),
            },
            "invalid_files": self.invalid,
            "selection": self.selection,
            "annotations": {
                "localised": self.localised_annotations,
                "tags": self.tag_annotations,
                "masks": self.masks,
            },
            "canonicalised": dict(sorted(self.canonicalised.items())),
            "unknown_names": dict(sorted(self.unknown.items())),
            "geometry_issues": self.geometry,
            "images": {
                "count": self.images,
                "without_gold_diagnosis": len(self.images_without_gold),
                "without_gold_examples": self.images_without_gold[:_EXAMPLES],
            },
            "metadata": self.metadata,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Prepared:
    ev: Evaluation
    release: str
    masks: dict[str, rle.RLE]
    areas: dict[str, int]


def default_release(source: str | Path) -> str:
    """Release label of a source: the parent of an ``annotations`` folder, else the folder/zip stem."""
    p = Path(source).resolve()
    if p.is_file() and p.suffix.lower() == ".json":
        p = p.parent
    if p.name == "annotations":
        p = p.parent
    return p.stem if p.suffix.lower() == ".zip" else p.name


def characteristic_masks(ev: Evaluation) -> dict[str, Crop]:
    """Per localisable characteristic, the union of this rater's annotations of it (METHODS §2)."""
    crops: dict[str, list[Crop]] = defaultdict(list)
    for a in ev.localised:
        crops[a.name].append(raster.rasterise(a.rings, ev.width, ev.height))
    return {name: crop_union(cs) for name, cs in crops.items()}


def _note_geometry(report: IngestReport, ev: Evaluation) -> None:
    where = [(a, j) for a in ev.localised for j in range(len(a.rings))]
    rings = [ring for a in ev.localised for ring in a.rings]
    for (a, j), issues in zip(where, raster.geometry_issues(rings, ev.width, ev.height), strict=True):
        for issue in issues:
            entry = report.geometry.setdefault(issue, {"count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < _EXAMPLES:
                entry["examples"].append(f"{ev.source}: annotations[{a.index}] ({a.raw_name!r}) ring {j}")


def _prepare(ev: Evaluation, release: str, report: IngestReport) -> _Prepared:
    for a in ev.annotations:
        if a.raw_name != a.name:
            report.canonicalised[f"{a.raw_name} -> {a.name}"] += 1
        for raw, canon in zip(a.raw_attributes, a.attributes, strict=True):
            if raw != canon:
                report.canonicalised[f"{raw} -> {canon}"] += 1
        if a.kind is Kind.UNKNOWN:
            report.unknown[a.raw_name] += 1
        if a.localised:
            report.localised_annotations += 1
        else:
            report.tag_annotations += 1
    _note_geometry(report, ev)
    masks: dict[str, rle.RLE] = {}
    areas: dict[str, int] = {}
    for name, crop in characteristic_masks(ev).items():
        runs = rle.runs_of_crop(crop)
        masks[name] = rle.encode_runs(runs, crop.shape)
        areas[name] = sum(runs[1::2])
    return _Prepared(ev, release, masks, areas)


def ingest_sources(
    store_path: str | Path,
    sources: Sequence[str | Path],
    *,
    metadata: str | Path | None = None,
    replace: bool = False,
    skip_invalid: bool = False,
    allow_unknown: bool = False,
    name_pattern: str = DEFAULT_NAME_PATTERN,
    release: str | None = None,
    ontology: Ontology | None = None,
    on_file: Callable[[], None] | None = None,
) -> IngestReport:
    """Ingest Darwin files, folders and zips (and optionally a metadata CSV) into a store.

    Raises :class:`InputError` for the first invalid file (unless ``skip_invalid``,
    which lists them in the report), :class:`ConflictError` when a different file for
    a rater and image is already stored (unless ``replace``). On any error the store
    is unchanged.
    """
    t0 = time.perf_counter()
    check_name_pattern(name_pattern)
    onto = ontology or load_ontology()
    report = IngestReport(sources=[str(s) for s in sources])
    prepared: dict[tuple[str, str], _Prepared] = {}
    for src in sources:
        rel = release or default_release(src)
        for raw in iter_sources([src]):
            report.files_read += 1
            try:
                ev = parse_evaluation(raw, onto, name_pattern=name_pattern, allow_unknown=allow_unknown)
                if ev.key in prepared:
                    raise InputError(
                        raw.label, "file name",
                        f"rater {ev.rater!r} and image {ev.image!r} already read from {prepared[ev.key].ev.source}",
                    )
            except InputError as exc:
                if not skip_invalid:
                    raise
                report.invalid.append({"file": exc.file, "error": str(exc)})
                continue
            prepared[ev.key] = _prepare(ev, rel, report)
            if on_file is not None:
                on_file()
    _check_sizes(prepared)
    meta = read_metadata(metadata, onto) if metadata is not None else None

    evs = [p.ev for p in prepared.values()]
    report.selection = select(evs, "drop").report()
    report.releases = Counter(p.release for p in prepared.values())
    report.masks = sum(len(p.masks) for p in prepared.values())

    existed = Path(store_path).exists()
    store = Store.open(store_path, create=True)
    try:
        with store.transaction() as conn:
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
        "coords, bbox) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (eid, a.index, a.name, a.raw_name, a.kind.value, json.dumps(a.attributes),
             *pack_rings(a.rings), json.dumps(a.bbox) if a.bbox else None)
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
