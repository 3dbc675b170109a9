"""Golden files: the built-in sample is what our generator makes, and its ingest report is stable."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dermx_bench.store.ingest import ingest_sources
from dermx_bench.synthetic.darwin import write_sample
from tests.conftest import REPO, SAMPLE

GOLDEN = REPO / "tests" / "golden"


def test_sample_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    out = write_sample(tmp_path / "sample", seed=0)
    made = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    kept = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file())
    assert made == kept
    for rel in made:
        assert (out / rel).read_bytes() == (SAMPLE / rel).read_bytes(), rel


def _stable(report: dict[str, object]) -> dict[str, object]:
    text = json.dumps({k: v for k, v in report.items() if k not in ("seconds", "sources")})
    return json.loads(text.replace(str(SAMPLE), "<sample>"))


def test_sample_ingest_report_matches_golden(tmp_path: Path) -> None:
    report = ingest_sources(tmp_path / "s.db", [SAMPLE / "annotations"], metadata=SAMPLE / "metadata.csv")
    got = _stable(report.as_dict())
    golden = GOLDEN / "sample_ingest_report.json"
    if os.environ.get("DERMX_BENCH_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(golden.read_text())
