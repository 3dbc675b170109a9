"""Leaderboard entries with seed runs, a sanity check and a place among the dermatologists (issue 10)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from dermx_bench.core.errors import InputError
from dermx_bench.leaderboard import add_run, publish
from dermx_bench.leaderboard.entries import LeaderboardError, load_entries
from dermx_bench.leaderboard.validate import validate
from dermx_bench.results.analyses import SanityResult, SanityStage
from tests.lb_fixture import make_run


def _sanity(name: str, passed: bool) -> SanityResult:
    stage = SanityStage(stage=1, layers=["fc"], ssim=0.2 if passed else 0.99, spearman=0.1,
                        ssim_per_image=[0.2], spearman_per_image=[0.1])
    return SanityResult(name=name, method="gradcam", images=["a"], seed=0, repeat_ssim=1.0, repeat_spearman=1.0,
                        stages=[stage], ssim_threshold=0.5, passed=passed)


def test_seed_runs_give_mean_and_sd_beside_each_run(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "runs", "seeded model", quality=q, seed=s, weights_sha256=w * 64)
            for q, s, w in ((0.5, 1, "1"), (0.55, 2, "2"), (0.45, 3, "3"))]
    lb = tmp_path / "lb"
    add_run(runs[0], lb, seed_runs=runs[1:])
    stored, _ = load_entries(lb)
    assert len(stored[0].seeds) == 2
    means = [json.loads((r / "entry.json").read_text())["localisation"]["union"]["per_rater"]["f1"]["mean"]
             for r in runs]
    md = publish(lb, "md", None, n_boot=50)
    section = md.split("## Runs with several seeds")[1]
    f1_row = next(line for line in section.splitlines() if line.startswith("| seeded model | f1 |"))
    assert f"{statistics.fmean(means):.3f} ± {statistics.stdev(means):.3f}" in f1_row
    assert all(f"{m:.3f} [" in f1_row for m in means)
    site = Path(publish(lb, "html", tmp_path / "site", n_boot=50))
    assert "Runs with several seeds" in (site / "index.html").read_text()


def test_seed_runs_must_be_other_trainings_of_the_same_submission(tmp_path: Path) -> None:
    a = make_run(tmp_path / "runs", "model", seed=1, weights_sha256="1" * 64)
    other_name = make_run(tmp_path / "runs", "another model", seed=2, weights_sha256="2" * 64)
    same_weights = make_run(tmp_path / "runs", "model", seed=3, weights_sha256="1" * 64)
    with pytest.raises(InputError, match="name differs"):
        add_run(a, tmp_path / "lb", seed_runs=[other_name])
    with pytest.raises(InputError, match="same weights"):
        add_run(a, tmp_path / "lb", seed_runs=[same_weights])
    assert not (tmp_path / "lb" / "entries" / "model.json").exists()  # nothing added


def test_validate_rechecks_kept_seed_runs(tmp_path: Path) -> None:
    """A kept seed run edited by hand (its figure, or its run file) fails ``validate`` naming that file."""
    import gzip

    runs = [make_run(tmp_path / "runs", "seeded", quality=q, seed=s, weights_sha256=w * 64)
            for q, s, w in ((0.5, 1, "1"), (0.55, 2, "2"))]
    lb = tmp_path / "lb"
    add_run(runs[0], lb, seed_runs=runs[1:])
    assert validate(lb).rechecked == ["seeded"]
    kept = lb / "entries" / "seeded" / "seeds" / "1"
    entry_file, scores = kept / "entry.json", kept / "scores.csv.gz"
    original = entry_file.read_text()
    data = json.loads(original)
    data["localisation"]["union"]["per_rater"]["f1"]["mean"] += 0.1
    entry_file.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError, match=r"seeds/1/entry\.json"):
        validate(lb)
    entry_file.write_text(original)
    lines = gzip.decompress(scores.read_bytes()).decode().splitlines()
    scores.write_bytes(gzip.compress("\n".join(lines[:-1]).encode() + b"\n"))
    with pytest.raises(LeaderboardError, match="scores"):
        validate(lb)


def test_sanity_and_place_among_dermatologists_are_kept_and_shown(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "checked model", seed=1)
    places = [{"characteristic": "union", "model": 0.4, "reference": 0.5, "raters": {"r1": 0.45, "r2": 0.55},
               "percentile": 0.0, "margin": 0.05, "tost_p": 0.9, "equivalent": False}]
    (run / "summary.json").write_text(json.dumps({"as_dermatologist": places}))
    good = tmp_path / "sanity.json"
    good.write_text(_sanity("checked model", True).model_dump_json())
    wrong = tmp_path / "wrong.json"
    wrong.write_text(_sanity("someone else", True).model_dump_json())
    with pytest.raises(InputError, match="not of the entry"):
        add_run(run, tmp_path / "lb", sanity=wrong)
    add_run(run, tmp_path / "lb", sanity=good)
    stored, _ = load_entries(tmp_path / "lb")
    extras = stored[0].extras
    assert extras.sanity is not None and extras.sanity.passed
    assert extras.as_dermatologist is not None and extras.as_dermatologist[0].raters == {"r1": 0.45, "r2": 0.55}
    site = Path(publish(tmp_path / "lb", "html", tmp_path / "site", n_boot=50))
    page = (site / "entries" / stored[0].stem / "index.html").read_text()
    assert "Passed" in page and "one more dermatologist" in page and "r1 0.450, r2 0.550" in page
