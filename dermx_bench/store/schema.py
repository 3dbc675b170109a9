"""The store's schema: its tables, its version, and the upgrade of older versions.

Version 2 (current) adds ``annotations.shape`` to version 1; a version-1 store is
upgraded in place when opened for writing (``dermx-bench migrate``, or any ingest) and
refused when opened read-only. A file without the ``meta`` table's ``schema_version`` is
not a store and is refused unchanged; the schema is created only in a new (empty) file.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from dermx_bench.core.errors import StoreError

if TYPE_CHECKING:
    from dermx_bench.store.db import Store

SCHEMA_VERSION = 2
"""The schema version this dermx-bench writes and reads."""

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    file_name TEXT,
    width INTEGER NOT NULL CHECK (width > 0),
    height INTEGER NOT NULL CHECK (height > 0),
    dataset TEXT,
    gold_diagnosis TEXT,
    skin_tone TEXT,
    age TEXT
);
CREATE TABLE IF NOT EXISTS raters (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    release TEXT NOT NULL,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    image_id INTEGER NOT NULL REFERENCES images(id),
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    diagnoses TEXT NOT NULL,
    discard_tags TEXT NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE (rater_id, image_id)
);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    raw_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    attributes TEXT NOT NULL,
    ring_sizes TEXT NOT NULL,
    coords BLOB,
    bbox TEXT,
    shape TEXT,
    UNIQUE (evaluation_id, idx)
);
CREATE TABLE IF NOT EXISTS masks (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    characteristic TEXT NOT NULL,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    counts TEXT NOT NULL,
    area INTEGER NOT NULL,
    PRIMARY KEY (evaluation_id, characteristic)
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    replaced_at TEXT NOT NULL,
    rater TEXT NOT NULL,
    image TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingests (id INTEGER PRIMARY KEY, at TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS annotations_evaluation ON annotations(evaluation_id);
"""
"""The tables of a new store (see :mod:`dermx_bench.store.db`)."""


def check_schema(store: Store, write: bool, create: bool) -> None:
    """Refuse a file that is not a store; create the schema or upgrade it when allowed."""
    try:
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        row = (store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
               if "meta" in tables else None)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{store.path}: not a dermx-bench store ({exc})") from None
    if row is None:
        if tables or not create:
            raise StoreError(
                f"{store.path}: not a dermx-bench store ("
                + (f"an SQLite database with tables {', '.join(sorted(tables)[:5])}" if tables else "empty")
                + "); it was left unchanged. Only 'dermx-bench ingest' makes a store, in a new file"
            )
        with store.transaction() as c:
            for statement in SCHEMA_SQL.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    version = str(row[0])
    if version == "1":
        if not write:
            raise StoreError(f"{store.path}: store schema version 1, this dermx-bench reads {SCHEMA_VERSION}; "
                             f"upgrade it in place with 'dermx-bench migrate --store {store.path}' "
                             "(any ingest into it does too)")
        _migrate_from_1(store)
    elif version != str(SCHEMA_VERSION):
        raise StoreError(
            f"{store.path}: store schema version {version}, this dermx-bench reads {SCHEMA_VERSION}"
        )


def _migrate_from_1(store: Store) -> None:
    """Version 1 -> 2: annotations gain ``shape`` (NULL for the tags and polygons v1 held)."""
    try:
        with store.transaction() as c:
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if int(row[0]) == 1:  # another process may have migrated it meanwhile
                c.execute("ALTER TABLE annotations ADD COLUMN shape TEXT")
                c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    except sqlite3.OperationalError as exc:
        raise StoreError(f"{store.path}: store schema version 1 must be upgraded to {SCHEMA_VERSION} in place, "
                         f"which failed ({exc}); open it once with write access") from None
