"""Agreement statistics (METHODS §6), references, baselines and the fuse/agreement CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dermx_bench.cli import main
from dermx_bench.consensus.agreement import TABLES, compute_table, compute_tables
from dermx_bench.consensus.agreement_report import render
from dermx_bench.consensus.agreement_table import SCORE_COLUMNS
from dermx_bench.consensus.baseline import load_baseline, save_baselines
from dermx_bench.consensus.fleiss import fleiss_kappa_from_histogram, fleiss_per_image
from dermx_bench.consensus.fusion import list_fusion_rules
from dermx_bench.consensus.mask_agreement import (
    leave_one_out_scores,
    leave_one_out_scores_decoded,
    localisation_pairs,
    localisation_pairs_decoded,
)
from dermx_bench.consensus.references import ImageReference, load_references
from dermx_bench.core.errors import StoreError
from dermx_bench.core.names import UNION
from dermx_bench.masks import rle as R
from dermx_bench.store.db import Store
from tests.conftest import darwin1, square, write_json

# A tiny hand-computable dataset on a 20 x 10 image (N = 200 pixels):
#   a: Psoriasis, Elderly, Plaque x 1..5, y 1..5 (25 px)
#   b: Psoriasis, Plaque x 3..7, y 1..5 (25 px; 15 shared with a)
#   c: Acne, Scale x 10..12, y 2..4 (9 px)
#   d: on img2, two diagnoses (Vitiligo, Acne): dropped under "drop"
N = 200


def _tiny_dataset(root: Path) -> tuple[Path, Path]:
    ann = root / "annotations"
    write_json(ann / "a_img1.json", darwin1(20, 10, [
        {"name": "Psoriasis", "tag": {}}, {"name": "Elderly", "tag": {}},
        {"name": "Plaque", "polygon": {"path": square(1, 1, 5, 5)}}]))
    write_json(ann / "b_img1.json", darwin1(20, 10, [
        {"name": "Psoriasis", "tag": {}}, {"name": "Plaque", "polygon": {"path": square(3, 1, 7, 5)}}]))
    write_json(ann / "c_img1.json", darwin1(20, 10, [
        {"name": "Acne", "tag": {}}, {"name": "Scale", "polygon": {"path": square(10, 2, 12, 4)}}]))
    write_json(ann / "d_img2.json", darwin1(20, 10, [
        {"name": "Vitiligo", "tag": {}}, {"name": "Acne", "tag": {}},
        {"name": "Patch", "polygon": {"path": square(0, 0, 3, 3)}}]))
    meta = root / "metadata.csv"
    meta.write_text("original_filename;dataset;diagnosis;current_filename;skin_tone;age\n"
                    "img1.jpg;synthetic;Psoriasis;img1.jpeg;light;elderly\n"
                    "img2.jpg;synthetic;Vitiligo;img2.jpeg;light;adult\n")
    return ann, meta


@pytest.fixture
def tiny_store(tmp_path: Path) -> Path:
    from dermx_bench.store.ingest import ingest_sources

    ann, meta = _tiny_dataset(tmp_path / "src")
    path = tmp_path / "tiny.db"
    ingest_sources(path, [ann], metadata=meta)
    return path


def _row(df: pd.DataFrame, name: str, rule: str | None = None) -> dict[str, float]:
    sel = df[df["name"] == name]
    if rule is not None:
        sel = sel[sel["rule"] == rule]
    assert len(sel) == 1, (name, rule)
    return {str(k): v for k, v in sel.iloc[0].to_dict().items()}


# -- references ----------------------------------------------------------------------------------


def test_references(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        refs = load_references(store)
        assert [r.image for r in refs] == ["img1"]  # img2's only evaluation is dropped
        ref = refs[0]
        assert (ref.height, ref.width, ref.gold) == (10, 20, "Psoriasis")
        assert ref.raters == ["a", "b", "c"]
        assert ref.diagnoses == {"a": "Psoriasis", "b": "Psoriasis", "c": "Acne"}
        assert list(ref.masks) == ["Plaque", "Scale", UNION]
        assert sorted(ref.masks["Plaque"]) == ["a", "b"]
        assert R.area(ref.masks["Plaque"]["a"]) == 25
        assert R.intersection_area(ref.masks["Plaque"]["a"], ref.masks["Plaque"]["b"]) == 15
        assert sorted(ref.masks[UNION]) == ["a", "b", "c"]
        assert ref.fuse("Plaque").max() == pytest.approx(2 / 3)
        alpha = load_references(store, "alphabetical")
        assert [r.image for r in alpha] == ["img1", "img2"]
        assert alpha[1].diagnoses == {"d": "Acne"}
        assert load_references(store, "first")[1].diagnoses == {"d": "Vitiligo"}


# -- localisation -----------------------------------------------------------------------------------


def test_localisation_hand_computed(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        t = compute_table(store, "localisation")
    assert list(t.frame.columns) == SCORE_COLUMNS
    assert list(t.frame["name"]) == ["Plaque", "Scale", UNION]
    plaque = _row(t.frame, "Plaque")
    # pairs (a,b),(b,a): F1 = 2*15/50 = 0.6; four pairs with c (empty): F1 0
    f1 = [0.6, 0.6, 0, 0, 0, 0]
    assert plaque["n"] == 6
    assert plaque["f1_mean"] == pytest.approx(np.mean(f1))
    assert plaque["f1_std"] == pytest.approx(np.std(f1, ddof=1))
    # sensitivity only where S drew: (a,b),(b,a) 0.6; (c,a),(c,b) 0
    assert plaque["sensitivity_mean"] == pytest.approx(0.3)
    spec = [165 / 175, 165 / 175, 175 / 200, 175 / 200, 1.0, 1.0]
    assert plaque["specificity_mean"] == pytest.approx(np.mean(spec))
    scale = _row(t.frame, "Scale")
    assert scale["n"] == 4 and scale["f1_mean"] == 0.0 and scale["sensitivity_mean"] == 0.0
    assert t.counts["ordered_pairs"] == 10 and t.counts["image_characteristics"] == 2
    assert t.counts["selection"]["kept"] == 3


def test_localisation_rle_identical_to_decoded(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        refs = load_references(store)
    a, b = localisation_pairs(refs), localisation_pairs_decoded(refs)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_identical_raters_agree_perfectly() -> None:
    m = np.zeros((6, 7), np.uint8)
    m[1:4, 2:6] = 1
    mask = R.encode(m)
    ref = ImageReference("x", 6, 7, None, ["r1", "r2", "r3"], {}, {"Plaque": {r: mask for r in ("r1", "r2", "r3")}})
    pairs = localisation_pairs([ref])
    assert len(pairs) == 6
    assert (pairs[["f1", "sensitivity", "specificity"]] == 1.0).all().all()
    loo = leave_one_out_scores([ref])
    assert (loo[["f1", "sensitivity", "specificity"]] == 1.0).all().all()
    assert fleiss_per_image([ref])["kappa"].tolist() == [1.0]


def test_fleiss_hand_computed(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        detail = fleiss_per_image(load_references(store))
    plaque = detail[detail["name"] == "Plaque"].iloc[0]
    # n(x): 2 on 15 px, 1 on 20 px, 0 on 165 px, 3 raters: P̄ = 53/60, p1 = 1/12, Pe = 61/72
    assert plaque["kappa"] == pytest.approx(13 / 55)
    assert (plaque["raters"], plaque["drew"]) == (3, 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4).flatmap(lambda k: st.lists(
    arrays(np.uint8, (5, 6), elements=st.integers(0, 1)), min_size=k, max_size=k)))
def test_fleiss_per_image_matches_the_textbook_formula(masks: list[np.ndarray]) -> None:
    raters = [f"r{i}" for i in range(len(masks))]
    drawn = {r: R.encode(m) for r, m in zip(raters, masks, strict=True) if m.any()}
    assume(drawn)  # an image is scored only on what someone drew
    ref = ImageReference("x", 5, 6, None, raters, {}, {"Plaque": drawn})
    got = fleiss_per_image([ref])["kappa"].tolist()
    expected = _fleiss_textbook(np.stack([m.ravel(order="F") for m in masks], axis=1))
    assert len(got) == 1
    assert (expected is None and math.isnan(got[0])) or got[0] == pytest.approx(expected, abs=1e-12)


def test_fleiss_kappa_branches() -> None:
    # 2 raters, 4 items: both say 1 on one, both 0 on one, disagree on two
    # P̄ = 0.5, p1 = 0.5, Pe = 0.5 -> kappa 0
    assert fleiss_kappa_from_histogram(np.array([1, 2, 1])) == pytest.approx(0.0)
    assert fleiss_kappa_from_histogram(np.array([5, 0, 0])) is None  # nobody labels anything
    assert fleiss_kappa_from_histogram(np.array([3, 1])) is None  # one rater
    assert fleiss_kappa_from_histogram(np.array([0, 4, 0])) == pytest.approx(-1.0)


def test_leave_one_out_hand_computed(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        refs = load_references(store)
    loo = leave_one_out_scores(refs)
    def one(rater: str, rule: str, name: str = "Plaque") -> pd.Series:
        sel = loo[(loo["rater"] == rater) & (loo["rule"] == rule) & (loo["name"] == name)]
        assert len(sel) == 1
        return sel.iloc[0]
    # rater a vs fuzzy(b, c): S = 0.5 on b's 25 pixels
    a = one("a", "fuzzy")
    assert a["f1"] == pytest.approx(2 * 7.5 / (25 + 12.5))
    assert a["sensitivity"] == pytest.approx(7.5 / 12.5)
    assert a["specificity"] == pytest.approx((175 - 10 * 0.5) / (200 - 12.5))
    assert one("a", "any")["f1"] == pytest.approx(0.6)
    assert one("a", "fuzzy_relative")["f1"] == pytest.approx(0.6)
    assert one("a", "majority")["f1"] == 0.0  # n > 1 never reached by one other rater
    c = one("c", "fuzzy")  # c drew no plaque
    assert (c["f1"], c["sensitivity"], c["specificity"]) == (0.0, 0.0, 1.0)
    # Scale: only c drew, so a and b score against fusions of c and an empty mask
    assert len(loo[(loo["name"] == "Scale") & (loo["rule"] == "fuzzy")]) == 3
    ref_loo = leave_one_out_scores_decoded(refs)
    pd.testing.assert_frame_equal(loo[["image", "name", "rule", "rater"]], ref_loo[["image", "name", "rule", "rater"]])
    for m in ("f1", "sensitivity", "specificity"):
        np.testing.assert_allclose(loo[m], ref_loo[m], rtol=1e-6, atol=1e-9)


def test_leave_one_out_table(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        t = compute_table(store, "leave-one-out")
    assert list(t.frame.columns) == ["name", "rule", *SCORE_COLUMNS[1:]]
    assert t.frame["rule"].tolist()[:5] == list_fusion_rules()
    assert t.frame["name"].iloc[-1] == UNION


# -- diagnosis and presence ----------------------------------------------------------------------


def test_diagnosis_gold_hand_computed(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        t = compute_table(store, "diagnosis-gold", "drop")
        alpha = compute_table(store, "diagnosis-gold")
    assert t.multi_diagnosis == "drop" and alpha.multi_diagnosis == "alphabetical"
    assert list(t.frame["name"]) == ["Acne", "Psoriasis"]
    acne = _row(t.frame, "Acne")
    assert acne["f1_mean"] == 0.0 and math.isnan(acne["sensitivity_mean"])
    assert acne["specificity_mean"] == pytest.approx(2 / 3)
    assert acne["specificity_std"] == pytest.approx(np.std([1, 1, 0]))
    pso = _row(t.frame, "Psoriasis")
    assert pso["f1_mean"] == pytest.approx(2 / 3) and pso["n"] == 3
    assert math.isnan(pso["specificity_mean"])
    assert t.counts["accuracy"] == pytest.approx(2 / 3)
    # alphabetical keeps d with Acne (gold Vitiligo)
    assert alpha.counts["raters"] == 4
    assert list(alpha.frame["name"]) == ["Acne", "Psoriasis", "Vitiligo"]
    assert alpha.counts["selection"]["multi_diagnosis_evaluations"] == 1


def test_diagnosis_pairwise_hand_computed(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        t = compute_table(store, "diagnosis-pairwise")
    acne = _row(t.frame, "Acne")
    assert acne["n"] == 6 and acne["f1_mean"] == 0.0
    assert acne["specificity_mean"] == pytest.approx(0.5)
    assert acne["specificity_std"] == pytest.approx(0.5)
    pso = _row(t.frame, "Psoriasis")
    assert pso["f1_mean"] == pytest.approx(1 / 3) and pso["sensitivity_mean"] == pytest.approx(1 / 3)
    assert pso["specificity_mean"] == 0.0


def test_presence(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        t = compute_table(store, "presence")
    assert list(t.frame.columns) == [*SCORE_COLUMNS, "evaluations", "images"]
    # ontology order: non-localisable (Elderly) first; d (img2) has no partner
    assert list(t.frame["name"]) == ["Elderly", "Patch", "Plaque", "Scale"]
    plaque = _row(t.frame, "Plaque")
    assert (plaque["evaluations"], plaque["images"], plaque["n"]) == (2, 1, 6)
    # (a,b),(b,a) agree: F1 1; pairs with c: 0
    assert plaque["f1_mean"] == pytest.approx(1 / 3)


def test_pairwise_identical_raters_is_one(tmp_path: Path) -> None:
    from dermx_bench.store.ingest import ingest_sources

    ann = tmp_path / "ann"
    for rater in ("r1", "r2"):
        for i, dx in enumerate(["Acne", "Psoriasis", "Acne"]):
            write_json(ann / f"{rater}_im{i}.json", darwin1(12, 9, [
                {"name": dx, "tag": {}}, {"name": "Papule", "polygon": {"path": square(1, 1, 4 + i, 5)}}]))
    ingest_sources(tmp_path / "s.db", [ann])
    with Store.open(tmp_path / "s.db") as store:
        tables = {t.table: t for t in compute_tables(store, ["diagnosis-pairwise", "presence", "localisation"])}
    for name in ("diagnosis-pairwise", "presence", "localisation"):
        f = tables[name].frame
        assert (f["f1_mean"] == 1.0).all() and (f["sensitivity_mean"] == 1.0).all(), name


# -- baselines ----------------------------------------------------------------------------------


def test_progress_total_is_the_number_of_images_visited(sample_store: Path, tmp_path: Path) -> None:
    """``on_total`` announces exactly as many ``on_image`` calls as follow (``agreement``'s progress line)."""
    totals: list[int] = []
    calls = [0]

    def count() -> None:
        calls[0] += 1

    with Store.open(sample_store) as s:
        compute_tables(s, TABLES, None, on_image=count, on_total=totals.append)
    assert totals == [calls[0]] and calls[0] > 0
    with Store.open(sample_store, write=True) as s:
        save_baselines(s, "2026-01-01T00:00:00+00:00", on_image=count, on_total=totals.append)
    assert totals[1] == calls[0] - totals[0]


def test_save_and_load_baseline(tiny_store: Path, tmp_path: Path) -> None:
    with Store.open(tiny_store, write=True) as store:
        with pytest.raises(StoreError, match="agreement --store .* --save"):
            load_baseline(store)
        saved = save_baselines(store, "2026-01-01T00:00:00Z")
        doc = load_baseline(store)
        assert doc == saved and doc.store_hash == store.content_hash()
        assert doc.saved_at == "2026-01-01T00:00:00Z" and doc.release is None
        assert doc.options == {"localisation_multi_diagnosis": "drop",
                               "diagnosis_multi_diagnosis": "alphabetical", "fusion": "fuzzy"}
        st = doc.localisation["Plaque"].f1
        assert st.n == 6 and st.mean == pytest.approx(0.2)  # six ordered pairs, pooled
        assert set(doc.leave_one_out["Plaque"]) == set(list_fusion_rules())
        assert doc.diagnosis.accuracy == pytest.approx(compute_table(store, "diagnosis-gold").counts["accuracy"])
        assert set(store.result_keys("agreement")) == {*TABLES, "baseline"}
        loc = store.load_result("agreement", "localisation")
        assert loc is not None and loc["multi_diagnosis"] == "drop" and loc["store_hash"] == doc.store_hash
        raw = store.load_result("agreement", "baseline")
        assert raw is not None and set(raw["localisation"]["Plaque"]["f1"]) == {"mean", "std", "ci_low", "ci_high", "n"}
    # change the store: the baseline is out of date
    from dermx_bench.store.ingest import ingest_sources

    extra = write_json(tmp_path / "more" / "e_img1.json", darwin1(20, 10))
    ingest_sources(tiny_store, [extra.parent])
    with Store.open(tiny_store) as store, pytest.raises(StoreError, match="again"):
        load_baseline(store)


def test_render_formats(tiny_store: Path) -> None:
    with Store.open(tiny_store) as store:
        tables = compute_tables(store)
    csv = render([tables[3]], "csv")
    assert csv.splitlines()[0] == ",".join(SCORE_COLUMNS)
    doc = json.loads(render([tables[3]], "json"))
    assert doc["table"] == "localisation" and doc["rows"][0]["name"] == "Plaque"
    md = render(tables, "md", store_hash="abc")
    for t in TABLES:
        assert f"## {t}:" in md
    assert "discarded" in md and "multi_diagnosis = `alphabetical`" in md and "dropped" in md
    with pytest.raises(ValueError, match="one table"):
        render(tables, "csv")


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_agreement(tiny_store: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "localisation",
                               "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == ",".join(SCORE_COLUMNS)
    first = lines[1].split(",")
    assert first[0] == "Plaque" and float(first[1]) == pytest.approx(0.2) and first[-1] == "6"
    assert len(first[1]) > 4  # unrounded
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "presence", "--format", "table"])
    assert res.exit_code == 0 and "Plaque" in res.stdout and "0.33" in res.stdout
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "all", "--format", "md"])
    assert res.exit_code == 0 and "reproduction report" in res.stdout
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "diagnosis-gold",
                               "--multi-diagnosis", "first", "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["multi_diagnosis"] == "first"
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "all", "--format", "csv"])
    assert res.exit_code == 2 and "one table" in res.output
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--table", "nope"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store.parent / "missing.db"), "--table", "fleiss"])
    assert res.exit_code == 1 and "Error:" in res.output and "no such store" in res.output
    res = runner.invoke(main, ["agreement", "--store", str(tiny_store), "--save"])
    assert res.exit_code == 0, res.output
    assert "saved" in res.output
    with Store.open(tiny_store) as store:
        assert load_baseline(store).localisation["Plaque"].f1.n == 6


def test_cli_fuse(tiny_store: Path, tmp_path: Path) -> None:
    from PIL import Image

    runner = CliRunner()
    out = tmp_path / "fused"
    coco = tmp_path / "levels.json"
    res = runner.invoke(main, ["fuse", "--store", str(tiny_store), "--rule", "fuzzy", str(out), "--coco", str(coco)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fuzzy_img1_Plaque.png", "fuzzy_img1_Scale.png", "fuzzy_img1_union.png"]
    arr = np.asarray(Image.open(out / "fuzzy_img1_Plaque.png"))
    assert arr.dtype == np.uint8 and arr.shape == (10, 20)
    assert sorted(np.unique(arr).tolist()) == [0, round(255 / 3), round(255 * 2 / 3)]
    doc = json.loads(coco.read_text())
    plaque = [a for a in doc["annotations"] if a["category_id"] == 1]
    assert [a["area"] for a in plaque] == [35, 15]
    assert [a["value"] for a in plaque] == pytest.approx([1 / 3, 2 / 3])
    res = runner.invoke(main, ["fuse", "--store", str(tiny_store), "--rule", "median", str(tmp_path / "x")])
    assert res.exit_code == 2 and "'median' is not one of" in res.output and "fuzzy_relative" in res.output
    assert not (tmp_path / "x").exists()
    res = runner.invoke(main, ["fuse", "--store", str(tiny_store), "--rule", "majority",
                               "--multi-diagnosis", "alphabetical", str(out)])
    assert res.exit_code == 0
    assert "majority_img2_Patch.png" in {p.name for p in out.iterdir()}


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.dermx
def test_v1_localisation_full_table(v1_store: Path) -> None:
    with Store.open(v1_store) as store:
        refs = load_references(store)
        t = compute_table(store, "localisation")
        images = {im.name: im for im in store.images()}
        evals = store.evaluations()
    # every image, characteristic and ordered pair where at least one drew, at full resolution
    expected = 0
    for ref in refs:
        assert ref.size == (images[ref.image].height, images[ref.image].width)
        k = len(ref.raters)
        for c in ref.characteristics():
            d = len(ref.masks[c])
            expected += k * (k - 1) - (k - d) * (k - d - 1)
    assert t.counts["ordered_pairs"] == expected
    assert int(t.frame[t.frame["name"] != UNION]["n"].sum()) == expected
    assert len(evals) == 1698 and t.counts["selection"]["kept"] == 1277
    plaque = _row(t.frame, "Plaque")
    assert 0.3 < plaque["f1_mean"] < 0.7


@pytest.mark.dermx
def test_v1_localisation_rle_identical_to_decoded_subset(v1_store: Path) -> None:
    with Store.open(v1_store) as store:
        refs = [r for r in load_references(store) if len(r.raters) >= 2][:15]
    a, b = localisation_pairs(refs), localisation_pairs_decoded(refs)
    assert len(a) > 100
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.dermx
def test_v1_leave_one_out_and_fleiss_match_decoded_subset(v1_store: Path) -> None:
    with Store.open(v1_store) as store:
        refs = [r for r in load_references(store) if len(r.raters) == 3][:4]
    loo, ref_loo = leave_one_out_scores(refs), leave_one_out_scores_decoded(refs)
    assert len(loo) == len(ref_loo) > 0
    for m in ("f1", "sensitivity", "specificity"):
        np.testing.assert_allclose(loo[m], ref_loo[m], rtol=1e-6, atol=1e-9)
    fl = fleiss_per_image(refs)
    for image, name, kappa in fl[["image", "name", "kappa"]].itertuples(index=False):
        ref = next(r for r in refs if r.image == image)
        drawn = ref.masks[name]
        labels = np.stack([R.decode(drawn[r]).ravel() if r in drawn else np.zeros(ref.n_pixels, np.uint8)
                           for r in ref.raters], axis=1)
        expected = _fleiss_textbook(labels)
        assert (expected is None and math.isnan(kappa)) or kappa == pytest.approx(expected)


def _fleiss_textbook(labels: np.ndarray) -> float | None:
    """Fleiss (1971) from an items x raters 0/1 label matrix, written the textbook way:
    n_ij = raters putting item i in category j, P_i = (Σ_j n_ij² − n) / (n (n − 1)),
    p_j = Σ_i n_ij / (N n), kappa = (mean P_i − Σ_j p_j²) / (1 − Σ_j p_j²)."""
    n_items, n = labels.shape
    ones = labels.sum(axis=1).astype(np.float64)
    counts = np.stack([n - ones, ones], axis=1)
    p_i = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_j = counts.sum(axis=0) / (n_items * n)
    p_e = float((p_j**2).sum())
    return None if p_e == 1 else (float(p_i.mean()) - p_e) / (1 - p_e)


def test_decoded_reference_equals_fuzzy_scores(tiny_store: Path) -> None:
    from dermx_bench.masks.metrics import fuzzy_scores

    with Store.open(tiny_store) as store:
        refs = load_references(store)
    pairs = localisation_pairs_decoded(refs)
    ref = refs[0]
    cols = ["name", "rater", "reference", "f1", "sensitivity", "specificity"]
    for name, rater, reference, f1, sens, spec in pairs[cols].itertuples(index=False):
        drawn = ref.masks[name]
        a = R.decode(drawn[rater]) if rater in drawn else np.zeros(ref.size, np.uint8)
        s = R.decode(drawn[reference]) if reference in drawn else np.zeros(ref.size, np.uint8)
        sc = fuzzy_scores(a.astype(float), s.astype(float))
        for got, exp in ((f1, sc.f1), (sens, sc.sensitivity), (spec, sc.specificity)):
            assert (math.isnan(got) and exp is None) or got == exp
