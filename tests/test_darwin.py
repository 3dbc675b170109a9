"""Reading Darwin JSON 1.0/2.0 files, folders and zips into typed records."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dermx_bench.core.errors import InputError, UnknownNameError
from dermx_bench.darwin.ontology import Kind, load_ontology
from dermx_bench.darwin.reader import RawFile, iter_sources, parse_evaluation, split_name
from tests.conftest import SAMPLE, darwin1, square, write_json

ONTO = load_ontology()


def parse(doc: object, name: str = "derm1_img-01.json", **kw: object):
    return parse_evaluation(RawFile(name, name, json.dumps(doc).encode()), ONTO, **kw)  # type: ignore[arg-type]


def test_v1_polygon_complex_polygon_additional_paths_and_tags() -> None:
    doc = darwin1(annotations=[
        {"name": "Psoriasis", "tag": {}},
        {"name": "Seborrhoeic region", "tag": {}},
        {"name": "Plaque", "polygon": {"path": square(1, 1, 5, 5)}, "attributes": ["Red", "Hyper-pigmented"],
         "bounding_box": {"x": 1, "y": 1, "w": 4, "h": 4}},
        {"name": "Scale", "complex_polygon": {"path": [square(0, 0, 9, 9), square(2, 2, 4, 4)],
                                              "additional_paths": [square(6, 6, 8, 8)]}},
    ])
    ev = parse(doc)
    assert (ev.rater, ev.image, ev.width, ev.height, ev.format) == ("derm1", "img-01", 20, 10, "darwin-1.0")
    assert ev.diagnoses == ["Psoriasis"]
    assert ev.tags == ["Seborrheic region"]
    plaque, scale = ev.localised
    assert plaque.attributes == ("Red", "Hyperpigmented") and plaque.raw_attributes[1] == "Hyper-pigmented"
    assert plaque.bbox == (1.0, 1.0, 4.0, 4.0)
    assert len(scale.rings) == 3 and scale.rings[0].shape == (4, 2)
    assert np.array_equal(plaque.rings[0][0], [1.0, 1.0])


def test_v2_paths_properties_and_annotators() -> None:
    doc = {
        "version": "2.0",
        "item": {"name": "photo 1.jpeg", "slots": [{"slot_name": "0", "width": 30, "height": 20}]},
        "annotations": [
            {"name": "Acne", "tag": {}, "annotators": [{"full_name": "Dr A", "email": "a@x.org"}]},
            {"name": "Papule", "polygon": {"paths": [square(1, 1, 5, 5), square(2, 2, 3, 3)]},
             "properties": [{"name": "colour", "value": "Red"}],
             "annotators": [{"full_name": "Dr A", "email": "a@x.org"}]},
        ],
    }
    ev = parse(doc, name="export.json", name_pattern=r"^(?P<rater>[^_]+)_(?P<image>.+)$")
    assert (ev.rater, ev.image, ev.format) == ("Dr A", "photo 1", "darwin-2.0")
    assert ev.localised[0].attributes == ("Red",)
    assert len(ev.localised[0].rings) == 2
    ev = parse(doc, name="derm9_photo 1.json")  # annotators come first; the report notes the file name
    assert (ev.rater, ev.rater_origin, ev.image, ev.image_origin) == ("Dr A", "annotators", "photo 1", "item.name")
    assert ev.naming_note == "the file name would give rater 'derm9'"
    ev = parse(doc, name="derm9_photo 1.json", rater="derm9")
    assert (ev.rater, ev.rater_origin, ev.image, ev.image_origin) == ("derm9", "--rater", "photo 1", "file name")


def test_split_name_first_underscore_and_custom_pattern() -> None:
    assert split_name("derm1_acne-face_2--W (1).json") == ("derm1", "acne-face_2--W (1)")
    assert split_name("img_01__derm1.json", r"^(?P<image>.+)__(?P<rater>[^_]+)$") == ("derm1", "img_01")


@pytest.mark.parametrize(
    ("doc", "where", "what"),
    [
        ({"annotations": []}, "image", "expected an 'image' object"),
        ({"image": {"width": 10}, "annotations": []}, "image.height", "expected a positive integer"),
        ({"image": {"width": "10", "height": 5}, "annotations": []}, "image.width", "positive integer"),
        (darwin1(annotations=[{"name": "Plaque", "polygon": {"path": [{"x": 1, "y": 1}, {"x": "a", "y": 2},
                                                                       {"x": 3, "y": 3}]}}]),
         "annotations[0] ('Plaque').polygon.path[1].x", "expected a finite number, got 'a'"),
        (darwin1(annotations=[{"name": "Plaque", "polygon": {"path": [{"x": 1, "y": 1}, {"x": float("nan"), "y": 2},
                                                                       {"x": 3, "y": 3}]}}]),
         "annotations[0] ('Plaque').polygon.path[1].x", "expected a finite number, got nan"),
        (darwin1(annotations=[{"name": "Plaque", "polygon": {"path": square(1, 1, 2, 2)[:2]}}]),
         "annotations[0] ('Plaque').polygon.path", "at least 3 points, got 2"),
        (darwin1(annotations=[{"name": "Plaque", "attributes": ["Red"]}]),
         "annotations[0] ('Plaque')", "expected a tag, polygon, complex_polygon, bounding_box, ellipse"),
        (darwin1(annotations=[{"name": "Plaque", "tag": {}}]), "annotations[0] ('Plaque').name",
         "is a localisable, expected a diagnosis or discard or non_localisable"),
        (darwin1(annotations=[{"tag": {}}]), "annotations[0].name", "expected a non-empty name"),
    ],
)
def test_bad_documents_name_file_place_and_expectation(doc: object, where: str, what: str) -> None:
    with pytest.raises(InputError) as err:
        parse(doc)
    assert err.value.file == "derm1_img-01.json"
    assert err.value.where == where
    assert what in err.value.what


def test_unknown_name_is_an_error_unless_allowed() -> None:
    doc = darwin1(annotations=[{"name": "Blue nevus", "polygon": {"path": square(1, 1, 5, 5)}}])
    with pytest.raises(UnknownNameError, match="--allow-unknown"):
        parse(doc)
    ev = parse(doc, allow_unknown=True)
    assert ev.localised[0].kind is Kind.UNKNOWN and ev.localised[0].name == "Blue nevus"


def test_truncated_and_non_json(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"line 1 column \d+: expected valid JSON"):
        parse_evaluation(RawFile("f.json", "derm1_a.json", b'{"image": {"wid'), ONTO)
    with pytest.raises(InputError, match="expected UTF-8"):
        parse_evaluation(RawFile("f.json", "derm1_a.json", b"\xff\xfe\x00"), ONTO)


def test_sources_folder_zip_and_bad_zip(tmp_path: Path) -> None:
    files = list(iter_sources([SAMPLE / "annotations"]))
    assert len(files) == 19 and all(f.name.endswith(".json") for f in files)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("darwin/derm1_a.json", json.dumps(darwin1()))
    (got,) = iter_sources([z])
    assert got.label == f"{z}!darwin/derm1_a.json" and got.name == "derm1_a.json"
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("darwin/readme.txt", "hello")
    with pytest.raises(InputError, match=r"export.zip: darwin/readme.txt: expected only Darwin .json files"):
        list(iter_sources([z]))
    write_json(tmp_path / "empty" / "x.txt", {})
    with pytest.raises(InputError, match="folder holds no .json files"):
        list(iter_sources([tmp_path / "empty"]))


def test_v1_box_only_is_its_four_corner_ring() -> None:
    ev = parse(darwin1(annotations=[{"name": "Plaque", "bounding_box": {"x": 1, "y": 2, "w": 3, "h": 4}}]))
    (box,) = ev.localised
    assert box.shape == "bounding_box" and box.rings[0].tolist() == [[1, 2], [4, 2], [4, 6], [1, 6]]
    with pytest.raises(InputError, match=r"bounding_box: expected finite x, y and w, h >= 0"):
        parse(darwin1(annotations=[{"name": "Plaque", "bounding_box": {"x": 1, "y": 2, "w": -3, "h": 4}}]))
