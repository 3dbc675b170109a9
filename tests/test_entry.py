"""The leaderboard entry schema: valid entries parse, invalid ones name file and field."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dermx_bench.core.errors import InputError
from dermx_bench.results.entry import (
    SCHEMA_VERSION,
    Entry,
    dump_entry,
    entry_file_stem,
    load_entry,
    parse_entry,
)
from tests.lb_fixture import make_entry


@pytest.fixture(scope="module")
def valid() -> dict:
    entry, _ = make_entry("Model A")
    return entry


def _bad(valid: dict, fn) -> InputError:
    data = copy.deepcopy(valid)
    fn(data)
    with pytest.raises(InputError) as info:
        parse_entry(data, "runs/x/entry.json")
    return info.value


def test_valid_entry_parses(valid: dict) -> None:
    e = parse_entry(valid, "entry.json")
    assert isinstance(e, Entry)
    assert e.schema_version == 4  # the fixture writes figures version 2 (schema 4); schema 5: test_rescore
    assert e.name == "Model A" and e.file_stem == "model-a"
    assert e.localisation["union"].per_rater.f1.n == 12
    assert e.submission.input_size == (64, 64)


def test_round_trip_through_file(tmp_path: Path, valid: dict) -> None:
    p = tmp_path / "entry.json"
    p.write_text(dump_entry(valid), encoding="utf-8")
    assert load_entry(p) == parse_entry(valid)


def test_missing_field_names_file_and_path(valid: dict) -> None:
    err = _bad(valid, lambda d: d["localisation"]["union"]["per_rater"]["f1"].pop("ci_low"))
    assert err.file == "runs/x/entry.json"
    assert err.where == "localisation.union.per_rater.f1.ci_low"
    assert "missing" in err.what
    assert str(err).startswith("runs/x/entry.json: localisation.union.per_rater.f1.ci_low: ")


def test_wrong_type_deep_in_the_tree(valid: dict) -> None:
    err = _bad(valid, lambda d: d["localisation"]["Plaque"]["fusion"]["sensitivity"].update(mean="high"))
    assert err.where == "localisation.Plaque.fusion.sensitivity.mean"


def test_list_index_in_path(valid: dict) -> None:
    err = _bad(valid, lambda d: d["submission"]["input_size"].__setitem__(1, -3))
    assert err.where == "submission.input_size[1]"


@pytest.mark.parametrize(
    ("edit", "where", "needle"),
    [
        (lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(mean=1.5), "mean", "[0, 1]"),
        (lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(std=-0.1), "std", "negative"),
        (lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(ci_low=0.9, ci_high=0.1),
         "localisation.union.per_rater.f1", "ci_low"),
        (lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(n=True), "n", ""),
        (lambda d: d.update(target="random"), "target", ""),
        (lambda d: d.update(date="yesterday"), "date", "ISO"),
        (lambda d: d.update(weights_sha256="xyz"), "weights_sha256", ""),
        (lambda d: d.update(surprise=1), "surprise", "unknown field"),
        (lambda d: d["submission"].update(model=None, entry_point=None), "submission", "entry_point"),
        (lambda d: d["diagnosis"]["confusion"].update(matrix=[[1, 2], [3, 4]]), "diagnosis.confusion", "3x3"),
        (lambda d: d["localisation"].pop("union"), "(entry)", "union"),
        (lambda d: d.update(n_all_zero_maps=99), "(entry)", "n_all_zero_maps"),
        (lambda d: d.update(name="line\nbreak"), "name", "control"),
        (lambda d: d.update(name="   "), "name", "empty"),
        (lambda d: d.update(name="<>/\\"), "name", "file-safe"),
    ],
)
def test_invalid_values_are_refused(valid: dict, edit, where: str, needle: str) -> None:
    err = _bad(valid, edit)
    assert err.where.endswith(where)
    assert needle in err.what


def test_unsupported_schema_version(valid: dict) -> None:
    err = _bad(valid, lambda d: d.update(schema_version=SCHEMA_VERSION + 1))
    assert err.where == "schema_version" and "not supported" in err.what


def test_several_errors_are_summarised(valid: dict) -> None:
    def edit(d: dict) -> None:
        d.pop("method")
        d.pop("target")
    err = _bad(valid, edit)
    assert "also:" in err.what


def test_nan_is_refused_in_files(tmp_path: Path, valid: dict) -> None:
    text = json.dumps(valid).replace('"accuracy": 0.7', '"accuracy": NaN')
    p = tmp_path / "entry.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="NaN is not valid JSON"):
        load_entry(p)


def test_nan_is_refused_in_dicts(valid: dict) -> None:
    err = _bad(valid, lambda d: d["localisation"]["union"]["vs_baseline"]["f1"].update(ratio=float("nan")))
    assert err.where == "localisation.union.vs_baseline.f1.ratio"
    assert "null" in err.what


def test_bad_json_names_line(tmp_path: Path) -> None:
    p = tmp_path / "entry.json"
    p.write_text('{"name": "x",\n  oops}', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_entry(p)
    assert info.value.where.startswith("line 2")


def test_not_an_object(valid: dict) -> None:
    with pytest.raises(InputError, match="JSON object"):
        parse_entry([valid], "e.json")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_entry(tmp_path / "nope.json")


def test_display_name_is_kept_verbatim(valid: dict) -> None:
    data = copy.deepcopy(valid)
    data["name"] = 'Evil <script>alert("x")</script> & co'
    e = parse_entry(data)
    assert e.name == data["name"]
    assert e.file_stem == "evil-script-alert-x-script-co"


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("ResNet-50 (Grad-CAM)", "resnet-50-grad-cam"),
        ("../../etc/passwd", "etc-passwd"),
        ("a/b\\c", "a-b-c"),
        ("..hidden", "hidden"),
        ("v1..2", "v1.2"),
        ("Çà et là", "ca-et-la"),
        ("CON", "con-entry"),
        ("model_v2.final", "model_v2.final"),
    ],
)
def test_file_stems(name: str, stem: str) -> None:
    assert entry_file_stem(name) == stem


@pytest.mark.parametrize("name", ["", "///", "<>", "日本語", "..", "-_-"])
def test_names_without_safe_characters(name: str) -> None:
    with pytest.raises(ValueError, match="file-safe"):
        entry_file_stem(name)


@given(st.text(max_size=120))
def test_stems_are_always_safe(name: str) -> None:
    try:
        stem = entry_file_stem(name)
    except ValueError:
        stem = None
    assume(stem is not None)  # names without a safe character are refused (tested above)
    assert stem is not None
    assert re.fullmatch(r"[a-z0-9][a-z0-9._-]*", stem)
    assert ".." not in stem and "/" not in stem and "\\" not in stem
    assert not stem.endswith((".", "-", "_"))
    assert len(stem) <= 86
