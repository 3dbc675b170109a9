"""Cost before work: estimates from the first batch, slow CPU runs refused without --allow-slow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.harness import cost
from dermx_bench.harness.cost import SlowRunError, check_cost, estimate_cost, format_duration
from dermx_bench.harness.explainers import list_explainers
from dermx_bench.harness.run import ScoreOptions, score_run
from tests.harness_util import make_submission, make_world

SHAP = ["--method", "kernel-shap", "--n-samples", "12", "--method-option", "n_segments=6",
        "--explainer-seed", "3"]
SHAP_LABEL = "kernel-shap(compactness=10.0, n_samples=12, n_segments=6, seed=3)"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cost")
    sub = make_submission(root / "sub", input_size=(32, 48), target_layer="layer3")
    return {**make_world(root, n_images=5, seed=5), "sub": sub}


def _args(world: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["score", str(world["sub"]), "--store", str(world["store"]), "--images", str(world["photos"]),
            "--out", str(out), "--device", "cpu", "--batch-size", "2", "--n-boot", "10", "--overlays", "0", *extra]


def test_durations_and_estimates() -> None:
    assert [format_duration(s) for s in (4.2, 89, 600, 5400, 3 * 3600 + 5 * 60)] == [
        "4 s", "89 s", "10 min", "1 h 30 min", "3 h 05 min"]
    e = estimate_cost("kernel-shap", "cpu", batch_images=4, batch_seconds=2.0, images_left=96, passes_per_image=501)
    assert e.seconds_per_image == 0.5 and e.total_seconds == 50.0
    assert "about 50 s for 100 image(s) on cpu" in e.describe() and "~501 model pass(es)" in e.describe()
    check_cost(e, allow_slow=False)
    slow = estimate_cost("scorecam", "cpu", 16, 60.0, 1000)
    with pytest.raises(SlowRunError, match="about 64 min.*over the 60 min.*--allow-slow"):
        check_cost(slow, allow_slow=False)
    check_cost(slow, allow_slow=True)
    check_cost(estimate_cost("scorecam", "cuda", 16, 60.0, 1000), allow_slow=False)  # GPUs are not refused
    with pytest.raises(ValueError, match="measured batch"):
        estimate_cost("gradcam", "cpu", 0, 1.0, 3)


def test_slow_run_refused_after_first_batch_and_nothing_left(world: dict[str, Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost, "SLOW_SECONDS", 1e-9)
    seen: list[cost.CostEstimate] = []
    opts = ScoreOptions(method="kernel-shap", method_options={"n_samples": 12, "n_segments": 6}, device="cpu",
                        batch_size=2, n_boot=10, n_overlays=0)
    with pytest.raises(SlowRunError, match="--allow-slow"):
        score_run(world["sub"], world["store"], world["photos"], tmp_path / "new", opts, on_estimate=seen.append)
    assert not (tmp_path / "new").exists()
    assert len(seen) == 1 and seen[0].batch_images == 2 and seen[0].images_left == 3
    assert seen[0].passes_per_image == 13
    (tmp_path / "empty").mkdir()
    with pytest.raises(SlowRunError):
        score_run(world["sub"], world["store"], world["photos"], tmp_path / "empty", opts)
    assert list((tmp_path / "empty").iterdir()) == []
    opts.allow_slow = True
    summary = score_run(world["sub"], world["store"], world["photos"], tmp_path / "run", opts)
    assert summary.method == "kernel-shap(compactness=10.0, n_samples=12, n_segments=6, seed=0)"


class _Kill(BaseException):
    pass


def test_slow_resume_refused_keeps_the_progress(world: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    opts = ScoreOptions(method="kernel-shap", method_options={"n_samples": 12, "n_segments": 6}, device="cpu",
                        batch_size=2, n_boot=10, n_overlays=5)

    def kill(_n: int) -> None:
        raise _Kill

    out = tmp_path / "run"
    with pytest.raises(_Kill):
        score_run(world["sub"], world["store"], world["photos"], out, opts, on_batch=kill)
    before = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    monkeypatch.setattr(cost, "SLOW_SECONDS", 1e-9)
    with pytest.raises(SlowRunError, match="--allow-slow") as info:
        score_run(world["sub"], world["store"], world["photos"], out, opts, resume=True)
    assert f"the unfinished run stays in {out}" in "\n".join(info.value.__notes__)
    after = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before


def test_cli_method_options_estimate_and_refusal(world: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    res = CliRunner().invoke(main, _args(world, tmp_path / "run", *SHAP, "--json"))
    assert res.exit_code == 0, res.output
    assert "Estimated: " + SHAP_LABEL in res.stderr
    assert json.loads((tmp_path / "run" / "entry.json").read_text())["method"] == SHAP_LABEL
    # the label with its options is covered by the entry's digest: the leaderboard takes the run as written
    res = CliRunner().invoke(main, ["leaderboard", "add", str(tmp_path / "run"), "--dir", str(tmp_path / "lb")])
    assert res.exit_code == 0, res.output
    # resuming with other options is refused: the label is part of the run's fingerprint
    res = CliRunner().invoke(main, _args(world, tmp_path / "run", *SHAP[:-1], "4", "--resume"))
    assert res.exit_code == 1 and "different method" in res.stderr
    monkeypatch.setattr(cost, "SLOW_SECONDS", 1e-9)
    res = CliRunner().invoke(main, _args(world, tmp_path / "slow", *SHAP))
    assert res.exit_code == 1 and "Error: " + SHAP_LABEL in res.stderr and "--allow-slow" in res.stderr
    assert not (tmp_path / "slow").exists()
    res = CliRunner().invoke(main, _args(world, tmp_path / "slow", *SHAP, "--allow-slow"))
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--method", "ig", "--sigma", "0.1"], "sigma: not an option of integrated-gradients (it takes steps"),
    (["--method-option", "steps"], "steps: expected KEY=VALUE"),
    (["--method", "smoothgrad", "--method-option", "base=lime"], "base: expected one of gradients"),
    (["--method", "gradcam", "--ig-steps", "4"], "not an option of gradcam (it takes no options)"),
])
def test_cli_bad_method_options(world: dict[str, Path], tmp_path: Path, extra: list[str], message: str) -> None:
    res = CliRunner().invoke(main, _args(world, tmp_path / "out", *extra))
    assert res.exit_code == 1 and message in res.stderr, res.output
    assert not (tmp_path / "out").exists()


def test_help_and_docs_list_every_method() -> None:
    res = CliRunner().invoke(main, ["score", "--help"])
    repo = Path(__file__).resolve().parent.parent
    docs = (repo / "docs" / "explainers.md").read_text(encoding="utf-8")
    readme = (repo / "README.md").read_text(encoding="utf-8")
    for name in list_explainers():
        assert f"  {name}" in res.output and f"`{name}`" in docs and f"`{name}`" in readme, name
    assert "Cost:" in res.output and "--allow-slow" in res.output
