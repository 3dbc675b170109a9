"""``sweep SWEEP.toml``: a grid of normal run folders, resumable as a whole, added to the leaderboard at once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.core.errors import InputError
from dermx_bench.harness.sweep import load_sweep
from tests.harness_util import make_submission, make_world, write_toml


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sweep")
    w: dict[str, Any] = make_world(root, 4)
    make_submission(root / "tiny")
    write_toml(root / "grid.toml", {"store": "s.db", "images": "photos", "out": "cells", "submissions": ["tiny"],
                                    "methods": ["gradcam", "gradcam++"], "targets": ["gold"], "n_boot": 10,
                                    "n_overlays": 1})
    w["toml"] = root / "grid.toml"
    return w


def test_sweep_runs_every_cell_resumes_and_adds_them(grid: dict[str, Any], tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    r = CliRunner().invoke(main, ["sweep", str(grid["toml"]), "--add", str(lb)])
    assert r.exit_code == 0, r.output
    assert "[1/2] tiny gradcam gold: running" in r.stderr and "[2/2] tiny gradcam++ gold: running" in r.stderr
    cells = load_sweep(grid["toml"]).cells
    assert [c.opts.entry_name for c in cells] == ["tiny test model | gradcam | gold (cell 1)",
                                                  "tiny test model | gradcam++ | gold (cell 2)"]
    for c in cells:
        assert (c.out / "entry.json").exists() and (c.out / "summary.json").exists()
    assert len(list((lb / "entries").glob("*.json"))) == 2
    shutil.rmtree(cells[1].out)  # the grid resumes: the finished cell is skipped, the missing one run
    r = CliRunner().invoke(main, ["sweep", str(grid["toml"]), "--add", str(lb)])
    assert r.exit_code == 0, r.output
    assert "[1/2] tiny gradcam gold: finished already" in r.stderr and "[2/2] tiny gradcam++ gold: running" in r.stderr
    r = CliRunner().invoke(main, ["sweep", str(grid["toml"]), "--dry-run"])
    assert r.exit_code == 0 and r.output.count(": complete") == 2


def test_bad_sweep_files_name_the_key(grid: dict[str, Any], tmp_path: Path) -> None:
    cases: dict[str, dict[str, Any]] = {"methods": {"methods": ["no-such-method"]}, "n_boot": {"n_boot": "many"}, "colour": {"colour": 1},
             "submissions": {"submissions": []}}
    for key, change in cases.items():
        doc = {"store": "s.db", "images": "p", "out": "o", "submissions": [str(grid["root"] / "tiny")],
               "methods": ["gradcam"], **change}
        write_toml(tmp_path / "g.toml", doc)
        with pytest.raises(InputError) as info:
            load_sweep(tmp_path / "g.toml")
        assert key in str(info.value), (key, info.value)
    (tmp_path / "bad.toml").write_text("store = \n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML"):
        load_sweep(tmp_path / "bad.toml")
