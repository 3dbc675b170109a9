"""What V7 exports today (Darwin JSON 2.0): every annotation type, slots, videos, names.

Each case is a small export written by our own builder (``dermx_bench.synthetic.darwin_v2``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.core.errors import InputError
from dermx_bench.darwin.ontology import load_ontology
from dermx_bench.darwin.reader import RawFile, parse_evaluation
from dermx_bench.masks import rle
from dermx_bench.store.db import Store
from dermx_bench.store.ingest import ingest_sources
from dermx_bench.synthetic import darwin_v2 as v2
from tests.conftest import write_json

ONTO = load_ontology()
SQUARE = [(2, 1), (6, 1), (6, 4), (2, 4)]  # 5 x 4 pixels with its outline


def parse(doc: Any, name: str = "derm1_img.json", **kw: Any):
    return parse_evaluation(RawFile(name, name, json.dumps(doc).encode()), ONTO, **kw)


def decode_dense(dense: list[int], height: int, width: int) -> np.ndarray:
    """Independent decode of V7's dense RLE: (value, count) pairs, row by row."""
    flat: list[int] = []
    for k in range(0, len(dense), 2):
        flat += [dense[k]] * dense[k + 1]
    assert len(flat) == height * width
    return np.array(flat, dtype=np.int64).reshape(height, width)


def masks_of(store: Path) -> dict[tuple[str, str, str], np.ndarray]:
    with Store.open(store) as s:
        masks = s.masks()
        return {(e.rater, e.image, c): rle.decode(masks[(e.id, c)]) for e in s.evaluations() for c in e.characteristics}


def report_of(store: Path) -> dict[str, Any]:
    with Store.open(store) as s:
        return json.loads(s.conn.execute("SELECT report FROM ingests ORDER BY id DESC").fetchone()[0])


# -- brush masks -------------------------------------------------------------------------------

def labels_image(rng: np.random.Generator, height: int, width: int, values: int) -> np.ndarray:
    lab = np.zeros((height, width), dtype=np.int64)
    for v in range(1, values + 1):
        r, c = rng.integers(0, height), rng.integers(0, width)
        lab[r : r + rng.integers(1, height + 1), c : c + rng.integers(1, width + 1)] = v
    return lab


def test_brush_masks_decode_exactly_into_per_rater_unions(tmp_path: Path) -> None:
    lab = labels_image(np.random.default_rng(3), 23, 31, 3)
    names = {1: "Plaque", 2: "Plaque", 3: "Scale"}
    doc = v2.item("photo.jpg", [("0", 23, 31)], [v2.tag("Psoriasis"), *v2.brush(lab, names)])
    store = tmp_path / "s.db"
    ingest_sources(store, [write_json(tmp_path / "in" / "derm1_photo.json", doc)])
    ref = decode_dense(doc["annotations"][-1]["raster_layer"]["dense_rle"], 23, 31)
    got = masks_of(store)
    assert np.array_equal(got[("derm1", "photo", "Plaque")], np.isin(ref, [1, 2]).astype(np.uint8))
    assert np.array_equal(got[("derm1", "photo", "Scale")], (ref == 3).astype(np.uint8))
    assert report_of(store)["annotations"]["by_shape"] == {"mask": 3}


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), values=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_brush_pixels_equal_an_independent_decode(h: int, w: int, values: int, seed: int) -> None:
    lab = labels_image(np.random.default_rng(seed), h, w, values)
    doc = v2.item("x.jpg", [("0", h, w)], v2.brush(lab, {v: "Papule" for v in range(1, values + 1)}))
    ref = decode_dense(doc["annotations"][-1]["raster_layer"]["dense_rle"], h, w)
    ev = parse(doc)
    for a in ev.localised:
        value = int(a.mask_id.split("-")[1])
        want = (ref == value).astype(np.uint8)
        got = a.pixels.full() if a.pixels is not None else np.zeros((h, w), np.uint8)
        assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("edit", "where", "what"),
    [
        (lambda L: L.update(total_pixels=7), "annotations[1] ('__raster_layer__').raster_layer.total_pixels",
         "expected 12 (the slot's 3x4 pixels), got 7"),
        (lambda L: L.update(dense_rle=[0, 11]), "annotations[1] ('__raster_layer__').raster_layer.dense_rle",
         "expected counts adding up to 12"),
        (lambda L: L.update(dense_rle=[0, 11, 1]), "annotations[1] ('__raster_layer__').raster_layer.dense_rle",
         "odd length 3"),
        (lambda L: L.update(dense_rle=[0, 11, 1, "1"]),
         "annotations[1] ('__raster_layer__').raster_layer.dense_rle[3]", "expected an integer, got '1'"),
        (lambda L: L.update(dense_rle=[0, 12, 1, -1]),
         "annotations[1] ('__raster_layer__').raster_layer.dense_rle[3]", "expected a count in 0..12"),
        (lambda L: L.update(dense_rle=[-1, 12]),
         "annotations[1] ('__raster_layer__').raster_layer.dense_rle[0]", "expected a value in 0..2**32-1"),
        (lambda L: L.update(dense_rle=[2**64, 12]),
         "annotations[1] ('__raster_layer__').raster_layer.dense_rle[0]", "expected a value in 0..2**32-1"),
    ],
)
def test_bad_raster_layer_is_a_located_error(edit: Any, where: str, what: str) -> None:
    lab = np.zeros((3, 4), dtype=np.int64)
    lab[1, 1] = 1
    doc = v2.item("x.jpg", [("0", 3, 4)], v2.brush(lab, {1: "Plaque"}))
    edit(doc["annotations"][1]["raster_layer"])
    with pytest.raises(InputError) as err:
        parse(doc)
    assert (err.value.where, what in err.value.what) == (where, True), err.value


def test_brush_without_layer_empty_mask_and_unclaimed_pixels(tmp_path: Path) -> None:
    lab = np.zeros((4, 5), dtype=np.int64)
    lab[0, :2], lab[3, 4] = 1, 2
    mask_only = v2.item("x.jpg", [("0", 4, 5)], v2.brush(lab, {1: "Plaque"})[:1])
    with pytest.raises(InputError, match=r"annotations\[0\] \('Plaque'\)\.mask: expected a raster_layer"):
        parse(mask_only)
    anns = v2.brush(lab, {1: "Plaque"})
    anns[-1]["raster_layer"]["mask_annotation_ids_mapping"] = {"mask-1": 1, "gone": 2}
    anns.insert(0, v2._ann("mask", "Scale", {"sparse_rle": None}, "0", "mask-9"))  # painted nothing
    store = tmp_path / "s.db"
    ingest_sources(store, [write_json(tmp_path / "in" / "derm1_x.json", v2.item("x.jpg", [("0", 4, 5)], anns))])
    assert set(masks_of(store)) == {("derm1", "x", "Plaque")}
    rep = report_of(store)
    assert rep["geometry_issues"]["no-pixels"]["examples"] == [f"{tmp_path}/in/derm1_x.json: annotations[0] ('Scale')"]
    (line,) = rep["annotations"]["skipped"]["raster_layer"]["examples"]
    assert line.endswith("annotations[2] ('raster_layer'): 1 painted pixels belong to no mask annotation")


# -- ellipses, boxes, and what is not an area ---------------------------------------------------

def test_ellipse_box_and_polygon_in_one_file(tmp_path: Path) -> None:
    doc = v2.item("x.jpg", [("0", 40, 60)], [
        v2.tag("Acne"), v2.ellipse("Papule", 20.2, 15.7, 7.3, 4.6, 0.4), v2.box("Pustule", 40, 5, 9, 6),
        v2.polygon("Papule", SQUARE, attributes=["Red"]),
    ])
    store = tmp_path / "s.db"
    ingest_sources(store, [write_json(tmp_path / "in" / "derm1_x.json", doc)])
    got = masks_of(store)
    box = np.zeros((40, 60), np.uint8)
    box[5:12, 40:50] = 1  # (x, y, w, h) = (40, 5, 9, 6) as a polygon with its outline: 10 x 7 pixels
    assert np.array_equal(got[("derm1", "x", "Pustule")], box)
    papule = got[("derm1", "x", "Papule")]
    assert papule[1:5, 2:7].all() and papule[15, 20] == 1
    assert abs(int(papule.sum()) - 20 - math.pi * 7.3 * 4.6) < math.pi * (7.3 + 4.6 + 1)
    rep = report_of(store)
    assert rep["annotations"]["by_shape"] == {"bounding_box": 1, "ellipse": 1, "polygon": 1}
    assert rep["annotations"]["box_only"] == {"count": 1, "examples": [
        f"{tmp_path}/in/derm1_x.json: annotations[2] ('Pustule')"]}
    with Store.open(store) as s:
        (ev,) = s.evaluations()
        shapes = [a["shape"] for a in s.annotations(ev.id)]
    assert shapes[0] is None and shapes[3] is None and shapes[2] == {"type": "bounding_box"}
    assert shapes[1]["type"] == "ellipse" and shapes[1]["radius"] == [7.3, 4.6]


def test_points_lines_skeletons_are_skipped_or_strict_errors(tmp_path: Path) -> None:
    doc = v2.item("x.jpg", [("0", 10, 20)], [
        v2.tag("Acne"), v2.keypoint("Papule", 3, 3), v2.line("Scale", [(1, 1), (8, 8)]),
        v2.skeleton("Whatever", [(1, 1), (2, 5)]), v2.polygon("Papule", SQUARE),
    ])
    f = write_json(tmp_path / "in" / "derm1_x.json", doc)
    store = tmp_path / "s.db"
    rep = ingest_sources(store, [f]).as_dict()
    assert set(masks_of(store)) == {("derm1", "x", "Papule")}
    skipped = rep["annotations"]["skipped"]
    assert {k: v["count"] for k, v in skipped.items()} == {"keypoint": 1, "line": 1, "skeleton": 1}
    assert skipped["skeleton"]["examples"] == [f"{f}: annotations[3] ('Whatever'): not an area"]
    with pytest.raises(InputError, match=r"annotations\[1\] \('Papule'\): a keypoint is not an area"):
        ingest_sources(tmp_path / "t.db", [f], strict_types=True)
    assert not (tmp_path / "t.db").exists()


# -- slots and videos -----------------------------------------------------------------------

def test_multi_slot_item_draws_on_its_slot_and_refuses_two_slots(tmp_path: Path) -> None:
    square = [(0, 0), (100, 0), (100, 100), (0, 100)]
    doc = v2.item("pair.jpg", [("0", 10, 10), ("1", 424, 640)],
                  [v2.tag("Acne", slot="0"), v2.polygon("Papule", square, slot="1")])
    store = tmp_path / "s.db"
    rep = ingest_sources(store, [write_json(tmp_path / "in" / "derm1_pair.json", doc)]).as_dict()
    mask = masks_of(store)[("derm1", "pair", "Papule")]
    assert mask.shape == (424, 640) and mask.sum() == 101 * 101
    assert rep["multi_slot_items"]["examples"][0].endswith("drawn on slot '1' (640x424) of 2")
    doc["annotations"].append(v2.polygon("Scale", SQUARE, slot="0"))
    with pytest.raises(InputError, match=r"annotations\[\]\.slot_names: areas drawn on 2 slots \('0' 10x10, "
                                         r"'1' 640x424\); the store holds one image size per image"):
        parse(doc)
    doc["annotations"][-1]["slot_names"] = ["7"]
    with pytest.raises(InputError, match=r"annotations\[2\] \('Scale'\)\.slot_names: expected one of the "
                                         r"item's slots \['0', '1'\], got \['7'\]"):
        parse(doc)


def test_video_items_are_refused_as_videos() -> None:
    frames = v2.polygon("Papule", SQUARE)
    frames["frames"] = {"0": frames.pop("polygon")}
    with pytest.raises(InputError, match=r"annotations\[0\] \('Papule'\)\.frames: video items are not supported"):
        parse(v2.item("clip.mp4", [("0", 10, 20)], [frames]))
    with pytest.raises(InputError, match=r"item\.slots\[0\]\.type: video items are not supported"):
        parse(v2.item("clip.mp4", [("0", 10, 20)], [v2.polygon("Papule", SQUARE)], slot_type="video"))


# -- names ----------------------------------------------------------------------------------

def test_rater_and_image_names_and_their_origins(tmp_path: Path) -> None:
    anon = v2.item("slotted_image_flat.jpg", annotations=[v2.tag("Acne")])
    ev = parse(anon, name="single_slotted_image_flat.json")
    assert (ev.rater, ev.rater_origin, ev.image, ev.image_origin) == (
        "single", "file name", "slotted_image_flat", "file name")
    ev = parse(anon, name="single_slotted_image_flat.json", rater="derm4")
    assert (ev.rater, ev.rater_origin, ev.image, ev.image_origin) == (
        "derm4", "--rater", "slotted_image_flat", "item.name")
    signed = v2.item("derm4_img7.jpg", annotations=[v2.tag("Acne", annotators=v2.person("Dr Who"))])
    ev = parse(signed, name="export.json")
    assert (ev.rater, ev.rater_origin, ev.image, ev.image_origin) == (
        "Dr Who", "annotators", "derm4_img7", "item.name")
    ev = parse(signed, name="export.json", rater="derm4")
    assert (ev.image, ev.image_origin) == ("img7", "item.name without 'derm4_'")
    two = v2.item("x.jpg", annotations=[v2.tag("Acne", annotators=v2.person("A")),
                                        v2.tag("Young", annotators=v2.person("B"))])
    with pytest.raises(InputError, match=r"expected one rater per file, found \['A', 'B'\]; pass --rater"):
        parse(two, name="export.json")
    assert parse(two, name="export.json", rater="C").rater == "C"


def test_accidental_splits_are_warned(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    first = tmp_path / "a"
    write_json(first / "derm1_img1.json", v2.item("img1.jpg", annotations=[v2.tag("Acne")]))
    meta = tmp_path / "m.csv"
    meta.write_text("current_filename;diagnosis\nimg1.jpeg;Acne\n")
    assert ingest_sources(store, [first], metadata=meta).warnings == []
    later = tmp_path / "b"
    write_json(later / "single_slotted_image_flat.json", v2.item("slotted_image_flat.jpg", annotations=[v2.tag("Acne")]))
    rep = ingest_sources(store, [later])
    assert rep.warnings == [
        "1 rater(s) new to this store: 'single' (from file name); if a name was split wrongly, use --rater "
        "or --name-pattern",
        "1 image(s) not in the metadata: 'slotted_image_flat' (from file name); if a name was split wrongly, "
        "use --name-pattern",
    ]
    assert rep.as_dict()["names"] == {"rater_origins": {"file name": 1}, "raters": {"single": {"file name": 1}},
                                      "image_origins": {"file name": 1},
                                      "notes": {"count": 0, "examples": []}}
