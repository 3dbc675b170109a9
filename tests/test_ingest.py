"""Ingest into the store: all or nothing, idempotent, conflicts, history, concurrency, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dermx_bench.core.errors import ConflictError, InputError, StoreError
from dermx_bench.masks import rle
from dermx_bench.store.db import Store
from dermx_bench.store.ingest import ingest_sources
from tests.conftest import SAMPLE, darwin1, square, write_json


def snapshot(path: Path) -> tuple[str, int, int]:
    with Store.open(path) as s:
        n_ev = s.conn.execute("SELECT count(*) FROM evaluations").fetchone()[0]
        n_hist = s.conn.execute("SELECT count(*) FROM history").fetchone()[0]
        return s.content_hash(), n_ev, n_hist


def test_sample_ingest_report(sample_store: Path) -> None:
    with Store.open(sample_store) as s:
        evals = s.evaluations()
        assert len(evals) == 19 and len(s.images()) == 6
        assert {e.format for e in evals} == {"darwin-1.0", "darwin-2.0"}
        masks = s.masks()
        assert len(masks) == sum(len(e.characteristics) for e in evals)
        rater4 = next(e for e in evals if e.rater == "rater4")
        plaque = rle.decode(masks[(rater4.id, "Plaque")])
        assert plaque.shape == (s.images()[0].height, s.images()[0].width)
        assert s.annotations(rater4.id)[2]["rings"][0][0] == [-5.0, -5.0]  # stored as drawn, not clamped


def test_reingest_identical_changes_nothing(sample_store: Path) -> None:
    before = snapshot(sample_store)
    report = ingest_sources(sample_store, [SAMPLE / "annotations"], metadata=SAMPLE / "metadata.csv")
    assert (report.added, report.unchanged, report.replaced) == (0, 19, 0)
    assert snapshot(sample_store) == before


def test_conflict_then_replace_keeps_history(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    f = write_json(tmp_path / "a" / "derm1_img.json", darwin1())
    ingest_sources(store, [f])
    before = snapshot(store)
    g = write_json(tmp_path / "b" / "derm1_img.json",
                   darwin1(annotations=[{"name": "Acne", "tag": {}}]))
    with pytest.raises(ConflictError, match="derm1_img.json: rater 'derm1', image 'img' differs"):
        ingest_sources(store, [g])
    assert snapshot(store) == before
    report = ingest_sources(store, [g], replace=True)
    assert report.replaced == 1
    with Store.open(store) as s:
        (ev,) = s.evaluations()
        assert ev.diagnoses == ["Acne"] and ev.characteristics == []
        assert s.masks() == {}
        (old,) = s.conn.execute("SELECT record FROM history").fetchall()
        record = json.loads(old[0])
        assert record["diagnoses"] == ["Psoriasis"] and record["annotations"][1]["name"] == "Plaque"


def test_invalid_file_fails_whole_ingest_or_is_skipped(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    ingest_sources(store, [SAMPLE / "annotations"])
    before = snapshot(store)
    folder = tmp_path / "new"
    write_json(folder / "derm1_ok.json", darwin1())
    (folder / "derm1_bad.json").write_text('{"image": ')
    with pytest.raises(InputError, match="derm1_bad.json: line 1 column 11: expected valid JSON"):
        ingest_sources(store, [folder])
    assert snapshot(store) == before
    report = ingest_sources(store, [folder], skip_invalid=True)
    assert report.added == 1 and report.invalid[0]["file"].endswith("derm1_bad.json")


def test_metadata_errors_leave_store_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    ingest_sources(store, [SAMPLE / "annotations"])
    before = snapshot(store)
    bad = tmp_path / "m.csv"
    bad.write_text("current_filename;dataset\nsynth0000.jpeg;x\n")
    with pytest.raises(InputError, match=r"m.csv: line 1 \(header\): expected columns .* missing diagnosis"):
        ingest_sources(store, [SAMPLE / "annotations"], metadata=bad)
    bad.write_text("current_filename;diagnosis\nsynth0000.jpeg;Acne\nnope.jpeg;Acne\n")
    with pytest.raises(InputError, match=r"m.csv: line 3: expected images that are in the store .* 'nope'"):
        ingest_sources(store, [SAMPLE / "annotations"], metadata=bad)
    bad.write_text("current_filename;diagnosis\nsynth0000.jpeg;Eczema\n")
    with pytest.raises(InputError, match=r"line 2, column diagnosis: unknown name 'Eczema'"):
        ingest_sources(store, [SAMPLE / "annotations"], metadata=bad)
    assert snapshot(store) == before


def test_size_mismatch_between_raters(tmp_path: Path) -> None:
    write_json(tmp_path / "x" / "derm1_img.json", darwin1(width=20))
    write_json(tmp_path / "x" / "derm2_img.json", darwin1(width=21))
    with pytest.raises(InputError, match="derm2_img.json: image.width/height: expected 20x10"):
        ingest_sources(tmp_path / "s.db", [tmp_path / "x"])


def test_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "x.db"
    bad.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a dermx-bench store"):
        Store.open(bad)
    with pytest.raises(StoreError, match="no such store"):
        Store.open(tmp_path / "missing.db")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    boxes=st.lists(st.tuples(st.integers(-3, 25), st.integers(-3, 12), st.integers(1, 10), st.integers(1, 8)),
                   min_size=1, max_size=4),
)
def test_ingest_is_idempotent_and_masks_are_unions(tmp_path_factory: pytest.TempPathFactory,
                                                   boxes: list[tuple[int, int, int, int]]) -> None:
    tmp = tmp_path_factory.mktemp("idem")
    anns = [{"name": "Acne", "tag": {}}] + [
        {"name": "Papule", "polygon": {"path": square(x, y, x + w, y + h)}} for x, y, w, h in boxes
    ]
    f = write_json(tmp / "derm1_img.json", darwin1(20, 10, anns))
    store = tmp / "s.db"
    ingest_sources(store, [f])
    first = snapshot(store)
    ingest_sources(store, [f])
    assert snapshot(store) == first
    expected = np.zeros((10, 20), dtype=np.uint8)
    for x, y, w, h in boxes:
        x0, y0, x1, y1 = (min(max(v, 0), m) for v, m in ((x, 19), (y, 9), (x + w, 19), (y + h, 9)))
        expected[y0 : y1 + 1, x0 : x1 + 1] = 1
    with Store.open(store) as s:
        (mask,) = s.masks().values()
        assert np.array_equal(rle.decode(mask), expected)


def _ingest_cmd(store: Path, src: Path) -> list[str]:
    return [sys.executable, "-m", "dermx_bench.cli", "ingest", str(src), "--store", str(store)]


def test_kill_9_mid_ingest_leaves_store_as_before(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    first = tmp_path / "first"
    write_json(first / "derm1_a.json", darwin1())
    ingest_sources(store, [first])
    before = snapshot(store)
    env = {**os.environ, "DERMX_BENCH_TEST_PAUSE_BEFORE_COMMIT": "60", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_ingest_cmd(store, SAMPLE / "annotations"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # everything is inserted, COMMIT not yet run
    assert "paused before commit" in line
    with Store.open(store) as s:  # another reader sees the old content meanwhile
        assert s.content_hash() == before[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(store) == before
    with Store.open(store) as s:
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_two_ingests_at_once_do_not_duplicate(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    Store.open(store, create=True).close()
    procs = [subprocess.Popen(_ingest_cmd(store, SAMPLE / "annotations"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    added = sorted(int(o[0].split(" added")[0].rsplit(", ", 1)[-1].split()[-1]) for o in outs)
    assert added == [0, 19]
    with Store.open(store) as s:
        assert len(s.evaluations()) == 19
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_mask_convention_is_one_per_store_and_in_its_hash(tmp_path: Path) -> None:
    f = write_json(tmp_path / "a" / "derm1_img.json", darwin1(20, 10, [
        {"name": "Acne", "tag": {}}, {"name": "Papule", "polygon": {"path": [
            {"x": -6.4, "y": 2}, {"x": 9, "y": -7.5}, {"x": 8, "y": 11.2}]}}]))
    clamp, clip = tmp_path / "clamp.db", tmp_path / "clip.db"
    ingest_sources(clamp, [f])
    assert ingest_sources(clip, [f], mask_convention="clip").mask_convention == "clip"
    with Store.open(clamp) as a, Store.open(clip) as b:
        assert a.mask_convention() == "clamp" and b.mask_convention() == "clip"
        assert a.content_hash() != b.content_hash()
        assert a.masks() != b.masks()
    before = snapshot(clamp)
    with pytest.raises(StoreError, match="holds masks drawn with the 'clamp' convention"):
        ingest_sources(clamp, [f], mask_convention="clip")
    assert snapshot(clamp) == before


def test_schema_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    ingest_sources(store, [SAMPLE / "annotations"])
    before = snapshot(store)
    with Store.open(store, write=True) as s:  # make it what dermx-bench wrote before the shape column
        s.conn.execute("ALTER TABLE annotations DROP COLUMN shape")
        s.conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    v1 = store.read_bytes()
    with pytest.raises(StoreError, match="schema version 1.*dermx-bench migrate --store"):
        Store.open(store)  # a read-only open never upgrades
    assert store.read_bytes() == v1
    with Store.open(store, write=True) as s:
        assert s.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
        assert s.annotations(s.evaluations()[0].id)[0]["shape"] is None
    assert snapshot(store) == before
