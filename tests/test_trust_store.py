"""Trust, store side (issue 9): hostile or careless annotation exports and stores.

Each case runs the CLI and asserts exit code 1, an ``Error:`` naming the file and the place
in it, and that the store and the output folders are exactly as before (file contents and
listings compared; SQLite's ``-wal``/``-shm`` companions of a WAL store, which any reader
creates, are left out of the listing but a ``-wal`` must hold nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dermx_bench.core.errors import InputError
from dermx_bench.core.paths import child, name_problem
from dermx_bench.store.db import Store
from dermx_bench.synthetic import darwin_v2 as v2
from tests.conftest import SAMPLE, darwin1, square, write_json
from tests.trust_util import cli, cli_json, listing, refused


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store of the built-in sample in its own folder ``tmp_path/db``."""
    path = tmp_path / "db" / "s.db"
    code, out = cli("ingest", SAMPLE / "annotations", "--metadata", SAMPLE / "metadata.csv", "--store", path)
    assert code == 0, out
    return path


# -- 1. names from annotation content never leave their folder ------------------------------


@pytest.mark.parametrize("hostile", ["../../../../tmp/x/EXPWN", "/tmp/x/ABSPWN", "..\\..\\win", ".hidden",
                                     "tab\tname", " padded", "x" * 201])
def test_hostile_rater_from_annotators_is_refused(tmp_path: Path, store: Path, hostile: str) -> None:
    doc = v2.item("img.jpg", annotations=[v2.tag("Psoriasis", annotators=v2.person(hostile)),
                                          v2.polygon("Plaque", [(1, 1), (5, 1), (5, 4)], annotators=v2.person(hostile))])
    doc["annotations"][0]["annotators"] = [{"full_name": hostile}]
    doc["annotations"][1]["annotators"] = [{"full_name": hostile}]
    f = write_json(tmp_path / "in" / "export.json", doc)  # no '_': the rater comes from the annotators
    before = listing(store.parent)
    code, out = cli("ingest", f, "--store", store)
    refused(code, out, f"{f}: annotations[].annotators: rater name", "names become file names")
    assert listing(store.parent) == before
    assert cli_json("ingest", f, "--store", store, "--skip-invalid", "--json")["invalid_files"][0]["file"] == str(f)
    assert not Path("/tmp/x/EXPWN").exists() and not Path("/tmp/x/ABSPWN").exists()


def test_hostile_image_names_are_refused(tmp_path: Path) -> None:
    doc = v2.item("..\\..\\evil.jpg", annotations=[v2.tag("Psoriasis")])
    f = write_json(tmp_path / "in" / "export.json", doc)
    code, out = cli("ingest", f, "--store", tmp_path / "s.db", "--rater", "derm1")
    refused(code, out, f"{f}: item.name: image name '..\\\\..\\\\evil' holds a path separator")
    code, out = cli("ingest", f, "--store", tmp_path / "s.db", "--rater", "../derm1")
    refused(code, out, "Error: --rater: '../derm1': the rater name holds a path separator")
    assert not (tmp_path / "s.db").exists()


def test_name_rule() -> None:
    assert name_problem("derm1") is None and name_problem("Dr. Ana María") is None
    assert name_problem("000498HB") is None and name_problem("a_b-c.d") is None
    for bad, why in [("", "empty"), ("a/b", "separator"), ("a\\b", "separator"), ("..", "'.'"), (".x", "'.'"),
                     ("a\x00b", "control"), ("a\nb", "control"), (" a", "space"), ("a ", "space"),
                     ("x" * 201, "201 characters"), ("a\udcffb", "not UTF-8")]:
        problem = name_problem(bad)
        assert problem is not None and why in problem, (bad, problem)


def test_child_refuses_every_way_out(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert child(folder, "a.png") == folder / "a.png"
    for name in ["", ".", "..", "../x.png", "/tmp/x.png", "a/b.png", "a\\b.png"]:
        with pytest.raises(InputError, match="refused"):
            child(folder, name)
    (folder / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(InputError, match="resolves outside the folder"):
        child(folder, "link.png")


def _old_store_with(store: Path, table: str, name: str) -> None:
    """Make ``store`` what an older dermx-bench accepted: a hostile rater or image name."""
    with Store.open(store, write=True) as s:
        s.conn.execute(f"UPDATE {table} SET name = ? WHERE id = (SELECT min(id) FROM {table})", (name,))


@pytest.mark.parametrize(("table", "command"), [("raters", ["export", "masks"]), ("images", ["export", "masks"]),
                                                 ("images", ["fuse"]), ("images", ["synth-images"])])
def test_writers_refuse_paths_outside_their_folder(tmp_path: Path, store: Path, table: str,
                                                   command: list[str]) -> None:
    _old_store_with(store, table, "../../escaped")
    before = listing(tmp_path)
    out_dir = tmp_path / "out" / "masks"
    code, out = cli(*command, "--store", store, out_dir)
    refused(code, out, f"{out_dir}: '", "../../escaped", "refused: a file name must not leave its folder")
    assert listing(tmp_path) == before  # nothing written, inside or outside


def test_fuse_refuses_a_symlink_planted_in_its_folder(tmp_path: Path, store: Path) -> None:
    out_dir = tmp_path / "fused"
    code, out = cli("fuse", "--store", store, out_dir)
    assert code == 0, out
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = sorted(out_dir.glob("*.png"))[0]
    target.unlink()
    target.symlink_to(victim)
    before = listing(tmp_path)
    code, out = cli("fuse", "--store", store, out_dir)
    refused(code, out, f"{out_dir}: '{target.name}': refused: the path resolves outside the folder")
    assert listing(tmp_path) == before and victim.read_text() == "keep me"


# -- 5. what used to be a traceback ------------------------------------------------------------


def test_json_nested_100000_levels(tmp_path: Path, store: Path) -> None:
    folder = tmp_path / "in"
    (folder).mkdir()
    (folder / "derm1_deep.json").write_text('{"image": {"width": 4, "height": 4}, "annotations": '
                                            + "[" * 100_000 + "]" * 100_000 + "}")
    write_json(folder / "derm1_fine.json", darwin1())
    before = listing(store.parent)
    code, out = cli("ingest", folder, "--store", store)
    refused(code, out, f"{folder / 'derm1_deep.json'}: expected JSON nested at most a few hundred levels deep")
    assert listing(store.parent) == before
    report = cli_json("ingest", folder, "--store", store, "--skip-invalid", "--json")
    assert report["evaluations"]["added"] == 1 and len(report["invalid_files"]) == 1


@pytest.mark.parametrize(("size", "where", "what"), [
    ((1e9, 10), "image.width/height", "expected a width and height of at most 65535 pixels, got 1000000000x10"),
    ((10**400, 10), "image.width", "expected a positive integer, got 1000000"),
    ((50000, 50000), "image.width/height", "a 50000x50000 image has 2500000000 pixels, more than the limit of 67108864; "
                                           "pass --max-image-pixels"),
])
def test_image_sizes_are_bounded(tmp_path: Path, store: Path, size: tuple[float, int], where: str, what: str) -> None:
    doc = darwin1()
    doc["image"]["width"], doc["image"]["height"] = size
    f = tmp_path / "in" / "derm1_huge.json"
    f.parent.mkdir()
    f.write_text(json.dumps(doc).replace("1e+400", "1" + "0" * 400))
    before = listing(store.parent)
    code, out = cli("ingest", f, "--store", store)
    refused(code, out, f"{f}: {where}: {what}")
    assert listing(store.parent) == before


def test_max_image_pixels_can_be_raised(tmp_path: Path) -> None:
    f = write_json(tmp_path / "in" / "derm1_big.json", darwin1(width=8200, height=8200))  # 67 240 000 pixels
    code, out = cli("ingest", f, "--store", tmp_path / "s.db")
    refused(code, out, "more than the limit of 67108864")
    code, out = cli("ingest", f, "--store", tmp_path / "s.db", "--max-image-pixels", "70000000")
    assert code == 0, out


def test_file_name_with_bytes_that_are_not_utf8(tmp_path: Path, store: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/derm1_caf\xe9.json"
    with open(raw, "wb") as fh:
        fh.write(json.dumps(darwin1()).encode())
    before = listing(store.parent)
    code, out = cli("ingest", folder, "--store", store)
    refused(code, out, "derm1_caf\\xe9.json: file name: image name", "holds bytes that are not UTF-8 text")
    assert listing(store.parent) == before


def test_store_locked_by_another_writer(tmp_path: Path, store: Path) -> None:
    f = write_json(tmp_path / "in" / "derm9_x.json", darwin1())
    holder = Store.open(store, write=True)
    tx = holder.transaction()
    tx.__enter__()
    try:
        before_db = hashlib.sha256(store.read_bytes()).hexdigest()
        code, out = cli("ingest", f, "--store", store, "--lock-timeout", "0.2")
        refused(code, out, f"{store}: locked by another writer for more than 0.2 s", f"held by process {os.getpid()}",
                "wait for it to finish")
        code, out = cli("agreement", "--store", store, "--save", "--lock-timeout", "0.2")
        refused(code, out, f"{store}: locked by another writer")
        code, out = cli("info", "--store", store)  # readers are not blocked
        assert code == 0, out
    finally:
        tx.__exit__(None, None, None)
        holder.close()
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before_db
    assert not (store.parent / "s.db-writer.json").exists()
    code, out = cli("ingest", f, "--store", store)
    assert code == 0, out


# -- 6. read-only commands never change a store, and refuse what is not one ---------------------

READERS = [["info"], ["agreement", "--table", "fleiss"], ["export", "coco", "{out}/c.json"],
           ["export", "masks", "{out}/m"], ["fuse", "{out}/f"], ["synth-images", "{out}/p"],
           ["score", "{sub}", "--images", "{out}", "--out", "{out}/run"]]


@pytest.fixture(scope="module")
def submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.harness_util import make_submission

    return make_submission(tmp_path_factory.mktemp("sub") / "sub", input_size=(32, 32))


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0] + (f"-{c[1]}" if c[0] == "export" else ""))
def test_reading_a_foreign_database_changes_nothing(tmp_path: Path, command: list[str], submission: Path) -> None:
    other = tmp_path / "db" / "other.db"
    other.parent.mkdir()
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO patients (name) VALUES ('someone')")
    conn.close()
    before = listing(tmp_path)
    args = [a.replace("{out}", str(tmp_path / "out")).replace("{sub}", str(submission)) for a in command]
    code, out = cli(*args[:1], *args[1:], "--store", other)
    refused(code, out, f"{other}: not a dermx-bench store (an SQLite database with tables patients); "
                       "it was left unchanged")
    assert listing(tmp_path) == before
    assert sorted(p.name for p in other.parent.iterdir()) == ["other.db"]  # not switched to WAL either


def test_read_only_commands_open_the_store_read_only(tmp_path: Path, store: Path) -> None:
    before = listing(store.parent)
    for command in (["info"], ["agreement", "--table", "presence"], ["export", "coco", tmp_path / "c.json"]):
        code, out = cli(*command, "--store", store)
        assert code == 0, out
    assert listing(store.parent) == before


def test_schema_1_store_is_upgraded_only_by_migrate(tmp_path: Path, store: Path) -> None:
    with Store.open(store, write=True) as s:
        s.conn.execute("ALTER TABLE annotations DROP COLUMN shape")
        s.conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    before = listing(store.parent)
    code, out = cli("info", "--store", store)
    refused(code, out, f"{store}: store schema version 1", f"dermx-bench migrate --store {store}")
    assert listing(store.parent) == before
    code, out = cli("migrate", "--store", store)
    assert code == 0 and "store schema version 2" in out
    code, out = cli("info", "--store", store)
    assert code == 0, out


def test_only_ingest_creates_a_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, out = cli("info", "--store", empty)
    refused(code, out, f"{empty}: not a dermx-bench store (empty)")
    assert empty.read_bytes() == b""
    code, out = cli("migrate", "--store", tmp_path / "missing.db")
    refused(code, out, "no such store")
    assert not (tmp_path / "missing.db").exists()


# -- 7. resource bounds --------------------------------------------------------------------------


def test_zip_member_expanding_past_the_bound_is_not_read(tmp_path: Path, store: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("derm1_bomb.json", "w", force_zip64=True) as fh:
            fh.write(b'{"image": {"width": 4, "height": 4}, "annotations": [], "pad": "')
            block = b" " * (1 << 20)
            for _ in range(65):
                fh.write(block)
            fh.write(b'"}')
        zf.writestr("derm1_small.json", json.dumps(darwin1()))
    assert bomb.stat().st_size < 200_000
    before = listing(store.parent)
    code, out = cli("ingest", bomb, "--store", store)
    refused(code, out, f"{bomb}!derm1_bomb.json: 68157506 bytes, more than the limit of 67108864 bytes",
            "--max-file-mb")
    assert listing(store.parent) == before
    assert cli_json("ingest", bomb, "--store", store, "--skip-invalid", "--json")["evaluations"]["added"] == 1


def test_darwin_file_above_the_bound(tmp_path: Path) -> None:
    f = write_json(tmp_path / "in" / "derm1_x.json", darwin1(annotations=[
        {"name": "Plaque", "polygon": {"path": square(0, 0, 3, 3)}, "pad": "x" * (1 << 20)}]))
    code, out = cli("ingest", f, "--store", tmp_path / "s.db", "--max-file-mb", "1")
    refused(code, out, f"{f}: {f.stat().st_size} bytes, more than the limit of 1048576 bytes")
    assert not (tmp_path / "s.db").exists()


def test_brush_layer_values_beyond_int64(tmp_path: Path) -> None:
    lab = np.zeros((3, 4), dtype=np.int64)
    lab[1, 1] = 1
    doc = v2.item("x.jpg", [("0", 3, 4)], [v2.tag("Acne"), *v2.brush(lab, {1: "Plaque"})])
    doc["annotations"][-1]["raster_layer"]["dense_rle"][1] = 2**70
    f = write_json(tmp_path / "in" / "derm1_x.json", doc)
    code, out = cli("ingest", f, "--store", tmp_path / "s.db")
    refused(code, out, "raster_layer.dense_rle[1]: expected a count in 0..12")


def test_lone_surrogate_escape_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "in" / "derm1_x.json"
    f.parent.mkdir()
    f.write_text(json.dumps(darwin1(annotations=[{"name": "Acne", "tag": {}},
                                                 {"name": "Plaque", "polygon": {"path": square(1, 1, 4, 4)},
                                                  "attributes": ["\ud800"]}])))
    code, out = cli("ingest", f, "--store", tmp_path / "s.db", "--allow-unknown")
    refused(code, out, f"{f}: expected text, got a lone surrogate escape ('\\ud800')")
    assert not (tmp_path / "s.db").exists()
