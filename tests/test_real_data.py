"""The real DermX releases (needs DERMX_DATA): the counts the issue fixes, and exact masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import upolygon

from dermx_bench.darwin.ontology import load_ontology
from dermx_bench.darwin.reader import RawFile, parse_evaluation
from dermx_bench.masks import rle
from dermx_bench.store.db import Store
from dermx_bench.store.ingest import ingest_sources
from tests.conftest import dermx_data

pytestmark = pytest.mark.dermx


def test_v1_report(v1_store: Path) -> None:
    with Store.open(v1_store) as s:
        rep = json.loads(s.conn.execute("SELECT report FROM ingests").fetchone()[0])
    assert rep["evaluations"]["read"] == 1698
    assert rep["selection"]["discarded"] == 411
    assert rep["selection"]["multi_diagnosis_evaluations"] == 16
    assert rep["annotations"]["localised"] == 3562
    assert rep["images"]["count"] == 566 and rep["images"]["without_gold_diagnosis"] == 0
    assert rep["canonicalised"]["Hyper-pigmented -> Hyperpigmented"] == 83
    geometry = {k: v["count"] for k, v in rep["geometry_issues"].items()}
    assert geometry == {"outside-image": 1238, "zero-area": 2, "duplicate-vertices": 11, "self-intersection": 8}
    assert rep["annotations"]["by_shape"] == {"polygon": 3562} and rep["annotations"]["skipped"] == {}
    assert rep["names"]["image_origins"] == {"file name": 1698} and rep["warnings"] == []


def test_v2_report(tmp_path: Path) -> None:
    root = dermx_data() / "v2-2023"
    rep = ingest_sources(tmp_path / "v2.db", [root / "annotations"], metadata=root / "metadata.csv").as_dict()
    assert rep["evaluations"]["read"] == 5528
    assert rep["images"]["without_gold_diagnosis"] == 64
    assert rep["annotations"]["localised"] == 10060
    (warning,) = rep["warnings"]  # the images the metadata lacks are the ones without gold diagnosis
    assert warning.startswith("64 image(s) not in the metadata: '009001HB' (from file name)")


def test_v1_masks_equal_full_resolution_v7_rasterisation(v1_store: Path) -> None:
    """Every 7th evaluation: the stored mask equals upolygon on a full-size array of the clamped,
    rounded rings, annotation by annotation, unioned."""
    onto = load_ontology()
    with Store.open(v1_store) as s:
        masks = s.masks()
        evals = [e for e in s.evaluations() if e.characteristics][::7]
        for e in evals:
            path = Path(e.source)
            ev = parse_evaluation(RawFile(str(path), path.name, path.read_bytes()), onto)
            for name in e.characteristics:
                ref = np.zeros((ev.height, ev.width), dtype=np.uint8)
                for a in ev.localised:
                    if a.name != name:
                        continue
                    one = np.zeros_like(ref)
                    paths = []
                    for ring in a.rings:
                        xs = [round(min(max(float(x), 0), ev.width - 1)) for x in ring[:, 0]]
                        ys = [round(min(max(float(y), 0), ev.height - 1)) for y in ring[:, 1]]
                        paths.append([v for xy in zip(xs, ys, strict=True) for v in xy])
                    upolygon.draw_polygon(one, paths, 1)
                    ref |= one
                assert np.array_equal(rle.decode(masks[(e.id, name)]), ref), (e.source, name)
