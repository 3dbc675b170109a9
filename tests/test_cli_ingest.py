"""The annotation lead's commands through click's CliRunner: exit codes, messages, outputs."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from pycocotools.coco import COCO

from dermx_bench import __version__
from dermx_bench.cli import main
from dermx_bench.masks import rle
from dermx_bench.store.db import Store
from dermx_bench.synthetic import darwin_v2 as v2
from tests.conftest import SAMPLE, darwin1, square, write_json


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out
    code, out, _ = run("-h")
    assert code == 0 and "ingest" in out and "export" in out


def test_ingest_json_report(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    code, out, _ = run("ingest", str(SAMPLE / "annotations"), "--metadata", str(SAMPLE / "metadata.csv"),
                       "--store", str(store), "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["evaluations"]["added"] == 19
    assert rep["canonicalised"] == {"Hyper-pigmented -> Hyperpigmented": 5}
    assert rep["geometry_issues"]["outside-image"]["count"] == 1
    code, out, _ = run("info", "--store", str(store), "--json")
    info = json.loads(out)
    assert info["evaluations"] == 19 and info["releases"]["sample"]["raters"] == 4


BAD = {
    "truncated": ('{"image": {"width": 3', "line 1 column 22: expected valid JSON"),
    "no-image": (json.dumps({"annotations": []}), "image: expected an 'image' object"),
    "no-height": (json.dumps({"image": {"width": 3}, "annotations": []}), "image.height: expected a positive integer"),
    "nan": (json.dumps(darwin1(annotations=[{"name": "Plaque", "polygon": {"path": [
        {"x": 1, "y": 1}, {"x": float("nan"), "y": 1}, {"x": 1, "y": 2}]}}])),
        "annotations[0] ('Plaque').polygon.path[1].x: expected a finite number, got nan"),
    "string": (json.dumps(darwin1(annotations=[{"name": "Plaque", "polygon": {"path": [
        {"x": 1, "y": 1}, {"x": "2", "y": 1}, {"x": 1, "y": 2}]}}])),
        "annotations[0] ('Plaque').polygon.path[1].x: expected a finite number, got '2'"),
    "two-points": (json.dumps(darwin1(annotations=[{"name": "Plaque", "polygon": {"path": square(1, 1, 2, 2)[:2]}}])),
                   "expected a ring of at least 3 points, got 2"),
    "unknown": (json.dumps(darwin1(annotations=[{"name": "Eczema", "tag": {}}])),
                "annotations[0] ('Eczema').name: unknown name 'Eczema'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exit_1_with_located_error_and_store_unchanged(tmp_path: Path, case: str) -> None:
    store = tmp_path / "s.db"
    assert run("ingest", str(SAMPLE / "annotations"), "--store", str(store))[0] == 0
    with Store.open(store) as s:
        before = s.content_hash()
    text, message = BAD[case]
    bad = tmp_path / "new" / "derm1_img.json"
    bad.parent.mkdir()
    bad.write_text(text)
    code, _, err = run("ingest", str(bad.parent), "--store", str(store))
    assert code == 1
    assert err.startswith(f"Error: {bad}: ") and message in err, err
    with Store.open(store) as s:
        assert s.content_hash() == before


def test_zip_with_non_json_member(tmp_path: Path) -> None:
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("derm1_a.json", json.dumps(darwin1()))
        zf.writestr("notes.txt", "x")
    code, _, err = run("ingest", str(z), "--store", str(tmp_path / "s.db"))
    assert code == 1 and f"Error: {z}: notes.txt: expected only Darwin .json files" in err


def test_metadata_unknown_image_and_missing_columns(tmp_path: Path) -> None:
    meta = tmp_path / "m.csv"
    meta.write_text("current_filename;diagnosis\nghost.jpeg;Acne\n")
    code, _, err = run("ingest", str(SAMPLE / "annotations"), "--metadata", str(meta), "--store", str(tmp_path / "s.db"))
    assert code == 1 and f"Error: {meta}: line 2: expected images that are in the store" in err
    assert not (tmp_path / "s.db").exists()
    meta.write_text("name;diagnosis\nghost.jpeg;Acne\n")
    code, _, err = run("ingest", str(SAMPLE / "annotations"), "--metadata", str(meta), "--store", str(tmp_path / "s.db"))
    assert code == 1 and "line 1 (header): expected columns current_filename, diagnosis" in err
    assert not (tmp_path / "s.db").exists()  # a failed first ingest leaves no store behind


def test_skip_invalid_reports_partial_success(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_json(folder / "derm1_a.json", darwin1())
    (folder / "derm1_b.json").write_text("not json")
    code, out, err = run("ingest", str(folder), "--store", str(tmp_path / "s.db"), "--skip-invalid")
    assert code == 0 and "Invalid files skipped: 1" in out and "1 invalid file(s) skipped" in err


def test_conflict_message_and_replace(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    write_json(tmp_path / "a" / "derm1_x.json", darwin1())
    write_json(tmp_path / "b" / "derm1_x.json", darwin1(annotations=[{"name": "Acne", "tag": {}}]))
    assert run("ingest", str(tmp_path / "a"), "--store", store)[0] == 0
    code, _, err = run("ingest", str(tmp_path / "b"), "--store", store)
    assert code == 1 and "Error: 1 evaluation(s) differ" in err and "--replace" in err
    code, out, _ = run("ingest", str(tmp_path / "b"), "--store", store, "--replace")
    assert code == 0 and "1 replaced" in out


def test_export_coco_round_trips_through_pycocotools(sample_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "coco.json"
    code, _, _ = run("export", "coco", "--store", str(sample_store), str(out))
    assert code == 0
    coco = COCO(str(out))
    with Store.open(sample_store) as s:
        masks = s.masks()
        evals = {(e.rater, e.image): e for e in s.evaluations()}
        names = {im.id: im.name for im in s.images()}
    assert len(coco.getAnnIds()) == len(masks)
    for ann in coco.loadAnns(coco.getAnnIds()):
        ev = evals[(ann["rater"], names[ann["image_id"]])]
        name = coco.loadCats(ann["category_id"])[0]["name"]
        assert np.array_equal(coco.annToMask(ann), rle.decode(masks[(ev.id, name)]))
        assert ann["area"] == coco.annToMask(ann).sum() and isinstance(ann["attributes"], list)
    inst = tmp_path / "inst.json"
    assert run("export", "coco", "--store", str(sample_store), str(inst), "--instances")[0] == 0
    assert len(COCO(str(inst)).getAnnIds()) == 43


def test_export_masks_png_layout(sample_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks"
    code, stdout, _ = run("export", "masks", "--store", str(sample_store), str(out))
    assert code == 0
    files = sorted(p.name for p in out.iterdir())
    assert "rater4_synth0000_Plaque.png" in files
    png = np.array(Image.open(out / "rater4_synth0000_Plaque.png"))
    assert set(np.unique(png)) <= {0, 255} and png.dtype == np.uint8
    code, _, err = run("export", "masks", "--store", str(sample_store), str(out))
    assert code == 1 and "not empty" in err


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("info", "--store", str(tmp_path / "nope.db"))
    assert code == 1 and "no such store" in err


def test_bad_name_pattern(tmp_path: Path) -> None:
    code, _, err = run("ingest", str(SAMPLE / "annotations"), "--store", str(tmp_path / "s.db"),
                       "--name-pattern", r"^(?P<who>[^_]+)_(?P<image>.+)$")
    assert code == 1 and "Error: --name-pattern: " in err and "missing rater" in err
    code, _, err = run("ingest", str(SAMPLE / "annotations"), "--store", str(tmp_path / "s.db"),
                       "--name-pattern", "(")
    assert code == 1 and "expected a valid regular expression" in err
    assert not (tmp_path / "s.db").exists()


def v7_export(folder: Path) -> Path:
    """Two V7-named items of one rater (no annotators): a box, an ellipse, a keypoint, a brush mask."""
    lab = np.zeros((10, 20), dtype=np.int64)
    lab[2:5, 3:9] = 1
    write_json(folder / "single_slotted_image_flat.json", v2.item("slotted_image_flat.jpg", [("0", 10, 20)], [
        v2.tag("Acne"), v2.box("Papule", 1, 1, 4, 3), v2.keypoint("Pustule", 5, 5), *v2.brush(lab, {1: "Scale"})]))
    write_json(folder / "second_item.json", v2.item("second item.jpg", [("0", 10, 10), ("1", 12, 20)], [
        v2.tag("Acne", slot="0"), v2.ellipse("Papule", 9.5, 6.2, 4.3, 2.1, 0.3, slot="1")]))
    return folder


def test_v7_export_of_one_rater_with_rater_option(tmp_path: Path) -> None:
    src = v7_export(tmp_path / "export")
    store = str(tmp_path / "s.db")
    code, out, err = run("ingest", str(src), "--store", store, "--rater", "derm5")
    assert code == 0, err
    assert "Names: raters from --rater 2; images from item.name 2" in out
    assert "  raters: derm5 (--rater 2)" in out
    assert "Box-only areas (ingested as their box: a coarse outline): 1" in out
    assert f"    e.g. {src}/single_slotted_image_flat.json: annotations[1] ('Papule')" in out
    assert "Skipped annotations (not areas; --strict-types makes them an error):" in out
    assert f"  keypoint: 1\n      e.g. {src}/single_slotted_image_flat.json: annotations[2] ('Pustule'): " \
           "not an area" in out
    assert f"Multi-slot items (areas drawn on their slot's canvas): 1\n    e.g. {src}/second_item.json: " \
           "drawn on slot '1' (20x12) of 2" in out
    assert "(bounding_box 1, ellipse 1, mask 1; mask convention clamp)" in out
    with Store.open(tmp_path / "s.db") as s:
        assert sorted((e.rater, e.image) for e in s.evaluations()) == [
            ("derm5", "second item"), ("derm5", "slotted_image_flat")]
    inst = tmp_path / "inst.json"
    assert run("export", "coco", "--store", store, str(inst), "--instances")[0] == 0
    coco = COCO(str(inst))
    assert sorted(a["area"] for a in coco.loadAnns(coco.getAnnIds())) == [18, 20, 29]  # brush, box, ellipse


def test_strict_types_and_file_name_split_warnings(tmp_path: Path) -> None:
    src = v7_export(tmp_path / "export")
    store = str(tmp_path / "s.db")
    code, _, err = run("ingest", str(src), "--store", store, "--strict-types")
    assert code == 1
    assert f"Error: {src}/second_item.json" not in err
    assert f"Error: {src}/single_slotted_image_flat.json: annotations[2] ('Pustule'): a keypoint is not an area" in err
    write_json(tmp_path / "first" / "derm1_a.json", darwin1())
    assert run("ingest", str(tmp_path / "first"), "--store", store)[0] == 0
    code, out, err = run("ingest", str(src), "--store", store, "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["names"]["raters"] == {"second": {"file name": 1}, "single": {"file name": 1}}
    assert "Warning: 2 rater(s) new to this store: 'second' (from file name), 'single' (from file name)" in err


def test_mask_convention_option_and_refusals(tmp_path: Path) -> None:
    write_json(tmp_path / "in" / "derm1_a.json", darwin1())
    code, out, _ = run("ingest", str(tmp_path / "in"), "--store", str(tmp_path / "s.db"),
                       "--mask-convention", "clip", "--json")
    assert code == 0 and json.loads(out)["mask_convention"] == "clip"
    code, _, err = run("ingest", str(tmp_path / "in"), "--store", str(tmp_path / "s.db"))
    assert code == 1 and "holds masks drawn with the 'clip' convention; ingest with --mask-convention clip" in err
    code, _, err = run("ingest", str(tmp_path / "in"), "--store", str(tmp_path / "t.db"), "--mask-convention", "x")
    assert code == 2 and "'x' is not one of 'clamp', 'clip'" in err
    code, _, err = run("ingest", str(tmp_path / "in"), "--store", str(tmp_path / "t.db"), "--rater", " ")
    assert code == 1 and "Error: --rater: ' ': expected a non-empty rater name" in err
    video = v2.item("clip.mp4", [("0", 10, 20)], [v2.polygon("Papule", [(1, 1), (5, 1), (5, 5)])],
                    slot_type="video")
    write_json(tmp_path / "vid" / "derm1_clip.json", video)
    code, _, err = run("ingest", str(tmp_path / "vid"), "--store", str(tmp_path / "t.db"))
    assert code == 1 and "item.slots[0].type: video items are not supported" in err
