"""The real v1-2021 release, byte for byte (needs DERMX_DATA): masks and agreement tables.

The golden files in ``tests/golden/v1_agreement/`` are the CSV output of ``dermx-bench agreement
--table T --format csv`` on v1-2021, saved before the package was laid out by stage (issue 8);
the mask digest is the SHA-256 of every stored mask of that store, in the order of the query
below. A change to either is a change to the published DermX numbers or to the 3263 exact
masks, and must be deliberate (regenerate the files and say why in the commit).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main

pytestmark = pytest.mark.dermx

GOLDEN = Path(__file__).parent / "golden" / "v1_agreement"
MASKS = 3263
MASK_DIGEST = "62e2f128eea9c89032abac8cdf4e02afb4768ae07f500cd7e3fd531911b632e4"
TABLES = ["diagnosis-gold", "diagnosis-pairwise", "presence", "localisation", "fleiss", "leave-one-out"]


def test_v1_masks_byte_identical(v1_store: Path) -> None:
    with sqlite3.connect(f"file:{v1_store}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT i.name, r.name, m.characteristic, m.height, m.width, m.counts FROM masks m "
            "JOIN evaluations e ON e.id = m.evaluation_id JOIN images i ON i.id = e.image_id "
            "JOIN raters r ON r.id = e.rater_id ORDER BY 1, 2, 3"
        ).fetchall()
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    assert (len(rows), digest.hexdigest()) == (MASKS, MASK_DIGEST)


@pytest.mark.parametrize("table", TABLES)
def test_v1_agreement_tables_byte_identical(v1_store: Path, table: str) -> None:
    result = CliRunner().invoke(main, ["agreement", "--store", str(v1_store), "--table", table, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (GOLDEN / f"{table}.csv").read_text(encoding="utf-8")
