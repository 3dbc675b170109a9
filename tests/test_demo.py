"""The README's main command: the demo runs offline end to end and ranks the honest model first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.synthetic.demo import HONEST, MARKER_FILE, SHORTCUT


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["ranking"] == [HONEST, SHORTCUT]
    for path in d["paths"].values():
        assert Path(path).exists(), path
    table = (out / "leaderboard" / "README.md").read_text()
    assert "Dermatologists" in table and HONEST in table
    assert (out / "site" / "index.html").is_file()
    assert (out / MARKER_FILE).is_file()


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "was not made by the demo" in res.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"
