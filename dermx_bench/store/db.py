"""The dataset store: one SQLite file (WAL, foreign keys, schema version).

Tables: ``images``, ``raters``, ``evaluations`` (one per rater and image),
``annotations`` (rings as float64 (x, y) image pixels; ``shape``: NULL for tags and
polygons, else JSON naming the V7 type, with the annotation's own COCO RLE counts for
ellipses and brush masks), ``masks`` (one COCO RLE per
evaluation and localisable characteristic: the union of that rater's annotations
of it), ``history`` (evaluations replaced by ``--replace``), ``ingests`` (a log of
reports) and ``results`` (saved tables such as the inter-rater baselines).

Every write happens in one ``BEGIN IMMEDIATE`` transaction: concurrent writers
wait for each other (up to a lock timeout, then an error naming the writer that holds
the store), and a killed writer leaves the store as it was. Readers open the file
read-only (SQLite ``mode=ro``); only ``ingest`` creates a store, and a file that is not
one is refused unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import StoreError
from dermx_bench.core.limits import DEFAULT_LOCK_TIMEOUT
from dermx_bench.darwin.conventions import MaskConvention
from dermx_bench.store.schema import SCHEMA_VERSION, check_schema

__all__ = ["SCHEMA_VERSION", "EvaluationInfo", "ImageInfo", "Store", "pack_rings",
           "unpack_rings"]

#: Format of :meth:`Store.content_hash`; a schema change that adds no content keeps it.
_HASH_FORMAT = 1


@dataclass(frozen=True)
class ImageInfo:
    """An image of the store. ``name`` is the file stem used in annotation file names."""

    id: int
    name: str
    file_name: str | None
    width: int
    height: int
    dataset: str | None
    gold: str | None
    skin_tone: str | None
    age: str | None


@dataclass(frozen=True)
class EvaluationInfo:
    """An evaluation as stored; names are canonical, lists in file order.

    ``characteristics``: the localisable characteristics this rater drew.
    """

    id: int
    release: str
    rater: str
    image: str
    diagnoses: list[str]
    discard_tags: list[str]
    tags: list[str]
    characteristics: list[str]
    source: str
    sha256: str
    format: str


def pack_rings(rings: Iterable[Any]) -> tuple[str, bytes | None]:
    """Rings as (JSON list of ring lengths, float64 little-endian x, y pairs); lossless."""
    import numpy as np

    arrays = [np.asarray(r, dtype="<f8").reshape(-1, 2) for r in rings]
    if not arrays:
        return "[]", None
    return json.dumps([len(a) for a in arrays]), np.concatenate(arrays).tobytes()


def unpack_rings(sizes: list[int], blob: bytes | None) -> list[list[list[float]]]:
    """Inverse of :func:`pack_rings`: a list of rings, each a list of [x, y]."""
    import numpy as np

    if not sizes or blob is None:
        return []
    pts = np.frombuffer(blob, dtype="<f8").reshape(-1, 2).tolist()
    out, k = [], 0
    for n in sizes:
        out.append(pts[k : k + n])
        k += n
    return out


class Store:
    """An open dataset store: :meth:`open` reads (read-only), ``write=True`` writes, ``create=True`` makes one."""

    def __init__(self, conn: sqlite3.Connection, path: Path, timeout: float = DEFAULT_LOCK_TIMEOUT,
                 writable: bool = True) -> None:
        self.conn = conn
        self.path = path
        self.timeout = timeout
        self.writable = writable

    @classmethod
    def open(cls, path: str | Path, *, write: bool = False, create: bool = False,
             timeout: float = DEFAULT_LOCK_TIMEOUT) -> Store:
        """Open the store at ``path``.

        By default the file is opened read-only (SQLite ``mode=ro``): nothing, not even a
        schema upgrade, is written. ``write`` opens it for writing (upgrading a schema-1
        store in place); ``create`` also makes a new store when ``path`` does not exist
        (or is an empty database). A file that is not a dermx-bench store is refused
        unchanged, as is a schema-1 store opened read-only (run ``dermx-bench migrate``).
        A writer waits ``timeout`` seconds for another writer, then fails with
        :class:`StoreError` saying who holds the store.
        """
        p = Path(path)
        write = write or create
        if not p.exists() and not create:
            raise StoreError(f"{p}: no such store (create one with 'dermx-bench ingest ... --store {p}')")
        if p.exists() and p.is_dir():
            raise StoreError(f"{p}: is a folder, expected a store file")
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            if write:
                conn = sqlite3.connect(p, timeout=timeout, isolation_level=None)
            else:
                conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
                                       isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{p}: cannot open the store ({exc})") from None
        store = cls(conn, p, timeout, write)
        try:
            check_schema(store, write, create)
            if write:
                store._pragma("PRAGMA journal_mode = WAL")
                store._pragma("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return store

    def _pragma(self, statement: str) -> None:
        try:
            self.conn.execute(statement)
        except sqlite3.OperationalError as exc:
            raise self._locked(exc) from None

    def mask_convention(self) -> MaskConvention:
        """How the store's polygon masks were drawn (``clamp`` unless ingested with another)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='mask_convention'").fetchone()
        return MaskConvention(row[0]) if row else MaskConvention.CLAMP

    def _has_table(self, name: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone() is not None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception.

        Waits up to the store's timeout for another writer, then raises :class:`StoreError`
        naming the writer that holds the store (see :mod:`dermx_bench.store.writer`).
        """
        from dermx_bench.store import writer

        if not self.writable:
            raise StoreError(f"{self.path}: opened read-only; open it with write=True to change it")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._locked(exc) from None
        note = writer.note(self.path)
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            writer.clear(note)
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK")
            raise self._locked(exc) from None
        finally:
            writer.clear(note)

    def _locked(self, exc: sqlite3.OperationalError) -> StoreError:
        """The error for a store another writer holds (or an OperationalError said as is)."""
        from dermx_bench.store import writer

        text = str(exc)
        if "locked" not in text and "busy" not in text:
            return StoreError(f"{self.path}: {text}")
        return StoreError(f"{self.path}: locked by another writer for more than {self.timeout:g} s "
                          f"({writer.describe(self.path)}); wait for it to finish, or stop it, then run this "
                          "again (--lock-timeout waits longer)")

    # -- reading -------------------------------------------------------------------------

    def images(self) -> list[ImageInfo]:
        rows = self.conn.execute(
            "SELECT id, name, file_name, width, height, dataset, gold_diagnosis, skin_tone, age "
            "FROM images ORDER BY name"
        ).fetchall()
        return [ImageInfo(*r) for r in rows]

    def evaluations(self, release: str | None = None) -> list[EvaluationInfo]:
        """All evaluations (of one release if given), ordered by image then rater."""
        drawn: dict[int, list[str]] = {}
        for eid, ch in self.conn.execute(
            "SELECT evaluation_id, characteristic FROM masks ORDER BY evaluation_id, characteristic"
        ):
            drawn.setdefault(eid, []).append(ch)
        q = (
            "SELECT e.id, e.release, r.name, i.name, e.diagnoses, e.discard_tags, e.tags, e.source, "
            "e.sha256, e.format FROM evaluations e JOIN raters r ON r.id = e.rater_id "
            "JOIN images i ON i.id = e.image_id"
        )
        args: tuple[Any, ...] = ()
        if release is not None:
            q += " WHERE e.release = ?"
            args = (release,)
        q += " ORDER BY i.name, r.name"
        return [
            EvaluationInfo(
                id=r[0], release=r[1], rater=r[2], image=r[3], diagnoses=json.loads(r[4]),
                discard_tags=json.loads(r[5]), tags=json.loads(r[6]),
                characteristics=drawn.get(r[0], []), source=r[7], sha256=r[8], format=r[9],
            )
            for r in self.conn.execute(q, args)
        ]

    def masks(self, evaluation_ids: Iterable[int] | None = None) -> dict[tuple[int, str], dict[str, Any]]:
        """COCO RLEs keyed by (evaluation id, characteristic)."""
        q = "SELECT evaluation_id, characteristic, height, width, counts FROM masks"
        rows: Iterable[tuple[Any, ...]]
        if evaluation_ids is None:
            rows = self.conn.execute(q)
        else:
            ids = list(evaluation_ids)
            rows = []
            for k in range(0, len(ids), 900):
                chunk = ids[k : k + 900]
                rows += self.conn.execute(
                    q + f" WHERE evaluation_id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
        return {(r[0], r[1]): {"size": [r[2], r[3]], "counts": r[4]} for r in rows}

    def annotations(self, evaluation_id: int) -> list[dict[str, Any]]:
        """Stored Darwin annotations of one evaluation, in file order; rings as [[x, y], ...] lists.

        ``shape`` is None for tags and polygons, else a dict with ``type`` (``bounding_box``,
        ``ellipse``, ``mask``) and, for ellipses and brush masks, ``counts`` (COCO RLE at the
        image's size; None for a brush mask without pixels).
        """
        rows = self.conn.execute(
            "SELECT idx, name, raw_name, kind, attributes, ring_sizes, coords, bbox, shape FROM annotations "
            "WHERE evaluation_id = ? ORDER BY idx", (evaluation_id,)
        ).fetchall()
        return [
            {"index": r[0], "name": r[1], "raw_name": r[2], "kind": r[3],
             "attributes": json.loads(r[4]), "rings": unpack_rings(json.loads(r[5]), r[6]),
             "bbox": json.loads(r[7]) if r[7] else None, "shape": json.loads(r[8]) if r[8] else None}
            for r in rows
        ]

    def releases(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT release FROM evaluations ORDER BY 1")]

    def content_hash(self) -> str:
        """sha256 over what results depend on: every evaluation's file hash, the images' metadata,
        and the mask convention when it is not the default."""
        h = hashlib.sha256(f"dermx-bench-store-v{_HASH_FORMAT}\n".encode())
        if (convention := self.mask_convention()) is not MaskConvention.CLAMP:
            h.update(f"mask_convention={convention.value}\n".encode())
        for row in self.conn.execute(
            "SELECT r.name, i.name, e.sha256 FROM evaluations e JOIN raters r ON r.id = e.rater_id "
            "JOIN images i ON i.id = e.image_id ORDER BY i.name, r.name"
        ):
            h.update(("\t".join(row) + "\n").encode())
        for row in self.conn.execute(
            "SELECT name, width, height, dataset, gold_diagnosis, skin_tone, age FROM images ORDER BY name"
        ):
            h.update(("\t".join("" if v is None else str(v) for v in row) + "\n").encode())
        return h.hexdigest()

    # -- saved results -----------------------------------------------------------------------

    def save_result(self, kind: str, key: str, payload: Any, saved_at: str) -> None:
        """Save a JSON-able result (e.g. an agreement table) under (kind, key), replacing any."""
        self.save_results(kind, [(key, payload)], saved_at)

    def save_results(self, kind: str, items: Iterable[tuple[str, Any]], saved_at: str) -> None:
        """Save several (key, payload) results of one kind in one transaction."""
        rows = [(kind, key, saved_at, json.dumps(payload, sort_keys=True)) for key, payload in items]
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", rows)

    def load_result(self, kind: str, key: str) -> Any | None:
        row = self.conn.execute(
            "SELECT payload FROM results WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def result_keys(self, kind: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT key FROM results WHERE kind = ? ORDER BY key", (kind,))]
