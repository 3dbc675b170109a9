"""Property-based fuzzing (issue 9): random mutations of valid inputs either work or fail with a
typed error (``DermxError``: the CLI's ``Error:``), never with another exception.

Inputs: a valid Darwin JSON 1.0 and 2.0 file (polygons, boxes, ellipses, a brush mask, tags,
a keypoint) read and rasterised as ingest does, and a valid ``submission.toml``/``.json``
parsed and checked. Mutations, one to three per example: byte flips, deleted keys, values
swapped for another JSON type, huge numbers, deep nesting. Example counts stay small so
that each test takes a few seconds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dermx_bench.core.errors import DermxError
from dermx_bench.darwin.ontology import load_ontology
from dermx_bench.darwin.reader import RawFile, parse_evaluation
from dermx_bench.store.ingest import _prepare
from dermx_bench.store.ingest_report import IngestReport
from dermx_bench.synthetic import darwin_v2 as v2
from tests.conftest import darwin1, square
from tests.harness_util import write_toml

ONTO = load_ontology()
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _v1() -> dict[str, Any]:
    return darwin1(24, 16, [
        {"name": "Psoriasis", "tag": {}},
        {"name": "Plaque", "polygon": {"path": square(1, 1, 8, 6)}, "attributes": ["Red"]},
        {"name": "Scale", "complex_polygon": {"path": [square(2, 2, 9, 9), square(3, 3, 4, 4)]}},
        {"name": "Papule", "bounding_box": {"x": 3, "y": 4, "w": 5, "h": 2}},
    ])


def _v2() -> dict[str, Any]:
    lab = np.zeros((16, 24), dtype=np.int64)
    lab[2:5, 3:9] = 1
    return v2.item("img.jpg", [("0", 16, 24)], [
        v2.tag("Acne", annotators=v2.person("Derm One")),
        v2.polygon("Plaque", [(1, 1), (8, 1), (8, 6)], [(12, 2), (20, 2), (16, 9)]),
        v2.box("Papule", 3, 4, 5, 2),
        v2.ellipse("Scale", 12, 8, 5, 3, 0.4),
        v2.keypoint("Pustule", 4, 4),
        *v2.brush(lab, {1: "Plaque"}),
    ])


BASES = {"v1": _v1(), "v2": _v2()}
ODD_VALUES = [None, True, 0, -1, 0.5, -1e308, 1e308, float("nan"), float("inf"), 10**30, -(10**30), 2**64, "",
              "x", "../../x", "\ud800", "Plaque", "Acne", [], [1, 2], {}, {"x": 1}]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` (dict keys and list indices) down to 40 levels, depth first."""
    out: list[tuple[Any, ...]] = []
    if len(prefix) >= 40:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, Any, Any]:
    kind = draw(st.sampled_from(["flip", "delete", "swap", "huge", "deep"]))
    where = draw(st.integers(0, 10**6))
    if kind == "flip":
        return kind, where, draw(st.integers(0, 255))
    if kind == "swap":
        return kind, where, draw(st.sampled_from(ODD_VALUES))
    if kind == "huge":
        return kind, where, draw(st.sampled_from([10**k for k in (4, 5, 9, 18, 19, 40, 300)]
                                                 + [1e300, -1e300, 2**63, -(2**63)]))
    if kind == "deep":
        return kind, where, draw(st.sampled_from([5, 60, 500, 1500, 100_000]))
    return kind, where, None


def _apply(doc: Any, raw: bytes | None, m: tuple[str, Any, Any]) -> tuple[Any, bytes | None]:
    """One mutation of ``doc`` (or of its bytes ``raw`` once a byte was flipped)."""
    kind, where, value = m
    if kind == "flip" or raw is not None:
        data = bytearray(raw if raw is not None else json.dumps(doc).encode())
        if kind == "flip" and data:
            data[where % len(data)] = value
        return doc, bytes(data)
    paths = _paths(doc)
    if not paths:
        return copy.deepcopy(value) if kind in ("swap", "huge") else doc, None
    path = paths[where % len(paths)]
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if kind == "delete":
        del parent[path[-1]]
    elif kind == "deep":  # json.dumps writes up to a few hundred levels; deeper ones are spliced in as text
        parent[path[-1]] = _nested(value) if value <= 500 else f"<deep {value}>"
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return doc, None


def _splice(text: bytes) -> bytes:
    """Replace the ``"<deep N>"`` placeholders by N nested lists."""
    for depth in (1500, 100_000):
        text = text.replace(f'"<deep {depth}>"'.encode(), b"[" * depth + b"]" * depth)
    return text


def _mutated(base: Any, mutations: list[tuple[str, Any, Any]], dump: Any = None) -> bytes:
    """``base`` mutated, as bytes (``dump``: how to write the document; JSON by default)."""
    doc, raw = copy.deepcopy(base), None
    for m in mutations:
        doc, raw = _apply(doc, raw, m)
    if raw is None:
        raw = (dump or (lambda d: json.dumps(d).encode()))(doc)
    return _splice(raw)


def _document(base: str, mutations: list[tuple[str, Any, Any]]) -> bytes:
    return _mutated(BASES[base], mutations)


def _ingest_steps(name: str, data: bytes, allow_unknown: bool = False) -> None:
    """What ingest does with one file before the store: parse, rasterise, encode."""
    ev = parse_evaluation(RawFile(name, name, data), ONTO, allow_unknown=allow_unknown)
    _prepare(ev, "fuzz", IngestReport(sources=[], mask_convention="clamp"), ev_convention())


def ev_convention() -> Any:
    from dermx_bench.darwin.conventions import MaskConvention

    return MaskConvention.CLAMP


def test_the_bases_are_valid() -> None:
    for base in BASES:
        _ingest_steps("derm1_img.json", _document(base, []))


@pytest.mark.parametrize("base", list(BASES))
@FUZZ
@given(mutations=st.lists(mutation(), min_size=1, max_size=3), allow_unknown=st.booleans())
def test_darwin_reader_fuzz(base: str, mutations: list[tuple[str, Any, Any]], allow_unknown: bool) -> None:
    data = _document(base, mutations)
    try:
        _ingest_steps("derm1_img.json", data, allow_unknown)
    except DermxError:
        pass


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(list(BASES)), mutations=st.lists(mutation(), min_size=1, max_size=2))
def test_ingest_cli_fuzz(tmp_path_factory: pytest.TempPathFactory, base: str,
                         mutations: list[tuple[str, Any, Any]]) -> None:
    from dermx_bench.cli import main

    tmp = tmp_path_factory.mktemp("fz")
    (tmp / "derm1_img.json").write_bytes(_document(base, mutations))
    res = CliRunner().invoke(main, ["ingest", str(tmp / "derm1_img.json"), "--store", str(tmp / "s.db"),
                                    "--allow-unknown"])
    assert res.exit_code in (0, 1), res.output
    assert res.exit_code == 0 or res.output.startswith("Error: "), (res.output, res.exception)


# -- submission.toml / .json ----------------------------------------------------------------------


SUBMISSION = {
    "name": "fuzzed model", "authors": ["A. Author"], "description": "x", "model": "test_resnet",
    "weights": "model.safetensors", "classes": ["Acne", "Psoriasis", "ignore"], "input_size": [32, 48],
    "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "resize": "stretch", "target_layer": "layer3",
}


def _toml_text(cfg: Any) -> bytes:
    """``cfg`` as TOML (a value with no TOML form, such as null, is written as JSON: invalid TOML)."""
    if not isinstance(cfg, dict):
        return json.dumps(cfg).encode()
    try:
        return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in cfg.items()).encode()
    except ValueError:
        return json.dumps(cfg).encode()


def _toml_value(v: Any) -> str:
    if v is None:
        raise ValueError("no null in TOML")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"


@pytest.mark.parametrize("fmt", ["toml", "json"])
@FUZZ
@given(mutations=st.lists(mutation(), min_size=1, max_size=3))
def test_submission_config_fuzz(tmp_path_factory: pytest.TempPathFactory, fmt: str,
                                mutations: list[tuple[str, Any, Any]]) -> None:
    from dermx_bench.harness.submission_config import parse_config, read_config

    folder = _submission_folder(tmp_path_factory)
    raw = _mutated(SUBMISSION, mutations, _toml_text if fmt == "toml" else None)
    path = folder / f"submission.{fmt}"
    path.write_bytes(raw)
    try:
        parse_config(read_config(path), path, ONTO)
    except DermxError:
        pass


_FOLDER: dict[str, Path] = {}


def _submission_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder holding a (dummy) weights file, shared by the examples."""
    if "sub" not in _FOLDER:
        folder = factory.mktemp("sub")
        (folder / "model.safetensors").write_bytes(b"")
        write_toml(folder / "submission.toml", SUBMISSION)
        _FOLDER["sub"] = folder
    return _FOLDER["sub"]
