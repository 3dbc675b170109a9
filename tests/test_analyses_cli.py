"""``dermx-bench compare`` and ``analyse`` on leaderboard-fixture runs (no model needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scipy import stats

from dermx_bench.cli import main
from dermx_bench.harness.analyses import load_run, prediction_strata
from dermx_bench.stats.paired import per_image_values
from tests.lb_fixture import make_run


def _invoke(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_a_run_compared_with_itself(tmp_path: Path) -> None:
    run = make_run(tmp_path, "model A", quality=0.5, seed=1)
    code, out, err = _invoke("compare", str(run), str(run), "--format", "json", "--n-boot", "100")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["n_shared_images"] == 12 and doc["n_only_a"] == 0
    assert {r["metric"] for r in doc["rows"]} == {"f1", "sensitivity", "specificity"}
    for r in doc["rows"]:
        assert r["difference"] == 0.0 and r["wilcoxon_p"] == 1.0 and r["holm_p"] == 1.0
        assert r["a_wins"] == 0.0 and r["b_wins"] == 0.0


def test_better_run_wins_with_scipy_wilcoxon(tmp_path: Path) -> None:
    good = make_run(tmp_path, "good", quality=0.7, seed=1)
    bad = make_run(tmp_path, "bad", quality=0.3, seed=2)
    code, out, err = _invoke("compare", str(good), str(bad), "--format", "csv", "--n-boot", "200")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    union = next(r for r in rows if r["characteristic"] == "union" and r["metric"] == "f1")
    assert float(union["difference"]) > 0.2 and float(union["ci_low"]) > 0
    a, b = per_image_values(load_run(good).scores, "per-rater"), per_image_values(load_run(bad).scores, "per-rater")
    d = (a.xs("union", level=0)["f1"] - b.xs("union", level=0)["f1"]).dropna()
    nonzero = d[d != 0]
    assert float(union["wilcoxon_p"]) == pytest.approx(stats.wilcoxon(nonzero.to_numpy()).pvalue)
    code, md, _ = _invoke("compare", str(good), str(bad), "--n-boot", "50")
    assert code == 0 and "# good (A) vs bad (B)" in md and "| union | 12 |" in md


def test_runs_on_different_stores_are_refused(tmp_path: Path) -> None:
    a = make_run(tmp_path, "A", seed=1)
    b = make_run(tmp_path, "B", seed=2, content_hash="cd" * 32)
    code, _, err = _invoke("compare", str(a), str(b))
    assert code == 1 and "another store" in err and "Error:" in err
    code, _, err = _invoke("compare", str(a), str(tmp_path))
    assert code == 1 and "not a finished run folder" in err


def test_analyse_by_disease_and_correct(tmp_path: Path) -> None:
    run = make_run(tmp_path, "A", quality=0.5, seed=1)
    png = tmp_path / "strata.png"
    code, out, err = _invoke("analyse", str(run), "--by", "disease", "--by", "correct", "--json",
                             "--n-boot", "50", "--min-n", "5", "--plot", str(png))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["by"] == ["disease", "correct"] and "Kruskal-Wallis" in doc["test"]
    preds = load_run(run).predictions
    strata = prediction_strata(preds, "disease")
    union = [r for r in doc["rows"] if r["by"] == "disease" and r["characteristic"] == "union" and r["metric"] == "f1"]
    assert sorted(r["stratum"] for r in union) == sorted(set(strata.values()))  # type: ignore[type-var]
    assert sum(r["stat"]["n"] for r in union) == 12
    assert png.read_bytes()[:4] == b"\x89PNG"
    code, _, err = _invoke("analyse", str(run), "--by", "skin_tone")
    assert code == 1 and "--store" in err
