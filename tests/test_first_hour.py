"""A new user's first hour (issue 13): init-submission, score --limit, errors that name the fix."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from tests.harness_util import make_world

N_IMAGES = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_world(tmp_path_factory.mktemp("first-hour"), N_IMAGES)


def _run(*args: str | Path) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def _save(path: Path, model: str, n_classes: int) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    module = timm.create_model(model, pretrained=False, num_classes=n_classes)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def test_init_submission_is_scored_and_limited_runs_are_partial(world: dict[str, Path], tmp_path: Path) -> None:
    sub = tmp_path / "my-model"
    code, out = _run("init-submission", sub, "--model", "test_resnet", "--input-size", "64", "64",
                     "--resize", "stretch")
    assert code == 0, out
    cfg = tomllib.loads((sub / "submission.toml").read_text())
    # timm's published configuration of test_resnet (timm/models/resnet.py: 'test_resnet.r160_in1k'):
    # mean and std 0.5; the input size was overridden
    assert cfg["model"] == "test_resnet" and cfg["mean"] == [0.5] * 3 and cfg["std"] == [0.5] * 3
    assert cfg["input_size"] == [64, 64] and cfg["weights"] == "model.safetensors"
    assert cfg["classes"] == ["Acne", "Actinic keratosis", "Psoriasis", "Seborrheic dermatitis", "Viral warts",
                              "Vitiligo"]
    assert "random initialisation" in out and "Next: dermx-bench score" in out

    run = tmp_path / "run"
    code, out = _run("score", sub, "--store", world["store"], "--images", world["photos"], "--out", run,
                     "--limit", "4", "--n-boot", "20", "--device", "cpu", "--overlays", "1")
    assert code == 0, out
    assert "PARTIAL RUN: 4 of 12 images (--limit 4)" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["limit"] == 4 and summary["n_images"] == 4 and summary["n_reference_images"] == N_IMAGES
    assert "PARTIAL RUN" in (run / "summary.md").read_text()
    entry = json.loads((run / "entry.json").read_text())
    assert (entry["n_images"], entry["n_reference_images"]) == (4, N_IMAGES)
    # every diagnosis of the four first: the subset takes the diagnoses in turn
    preds = (run / "predictions.csv").read_text().splitlines()[1:]
    assert len({line.split(",")[1] for line in preds}) == 4

    lb = tmp_path / "lb"
    assert _run("leaderboard", "add", run, "--dir", lb)[0] == 0
    code, table = _run("leaderboard", "publish", "--dir", lb, "--format", "md", "--out", "-")
    assert code == 0, table
    partial = table.split("## Partial runs", 1)
    assert len(partial) == 2 and "test\\_resnet on DermX" in partial[1] and "4/12 (33%)" in partial[1]


def test_limit_subset_is_deterministic_and_covers_diagnoses() -> None:
    from types import SimpleNamespace

    from dermx_bench.harness.run_plan import quick_subset

    refs = [SimpleNamespace(image=f"i{k}", gold=g) for k, g in enumerate("AAABBC")]
    # by hand: turns A(i0) B(i3) C(i5), then A(i1) B(i4), then A(i2); kept in store order
    assert [r.image for r in quick_subset(refs, 4)] == ["i0", "i1", "i3", "i5"]  # type: ignore[arg-type]
    assert [r.image for r in quick_subset(refs, 2)] == ["i0", "i3"]  # type: ignore[arg-type]
    assert len(quick_subset(refs, 99)) == 6  # type: ignore[arg-type]


def test_init_submission_refuses_unknown_models(tmp_path: Path) -> None:
    code, out = _run("init-submission", tmp_path / "s", "--model", "resnt18")
    assert code == 1 and "'resnt18' is not a timm architecture" in out and "resnet18" in out, out
    assert not (tmp_path / "s").exists()


def test_init_submission_refuses_weights_of_another_architecture(tmp_path: Path) -> None:
    weights = _save(tmp_path / "vit.safetensors", "test_vit", 6)
    target = tmp_path / "s"
    target.mkdir()
    code, out = _run("init-submission", target, "--model", "test_resnet", "--weights", weights)
    assert code == 1 and "these weights look like test_vit, not test_resnet" in out, out
    assert 'set model = "test_vit"' in out
    assert list(target.iterdir()) == []  # the refused folder is left as it was


def test_init_submission_names_classes_on_a_class_count_mismatch(tmp_path: Path) -> None:
    weights = _save(tmp_path / "four.safetensors", "test_resnet", 4)
    code, out = _run("init-submission", tmp_path / "s", "--model", "test_resnet", "--weights", weights)
    assert code == 1, out
    assert "classes: 6 classes listed, but four.safetensors holds a classifier with 4 outputs" in out
    assert "'classes' of submission.toml" in out and not (tmp_path / "s").exists()
    code, out = _run("init-submission", tmp_path / "s", "--model", "test_resnet", "--weights", weights,
                     "--classes", "Acne,Psoriasis", "--classes", "Vitiligo", "--classes", "ignore")
    assert code == 0, out
    assert tomllib.loads((tmp_path / "s" / "submission.toml").read_text())["classes"] == [
        "Acne", "Psoriasis", "Vitiligo", "ignore"]
    assert (tmp_path / "s" / "four.safetensors").read_bytes() == weights.read_bytes()


def test_init_submission_keeps_an_existing_submission(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "submission.toml").write_text("name = 'mine'\n")
    code, out = _run("init-submission", tmp_path / "s", "--model", "test_resnet")
    assert code == 1 and "already exists" in out
    assert (tmp_path / "s" / "submission.toml").read_text() == "name = 'mine'\n"
    assert not (tmp_path / "s" / "model.safetensors").exists()


def test_guess_names_resnet50_weights_given_for_resnet18() -> None:
    """The issue's example, on the meta device: only names and shapes are compared."""
    import timm
    import torch

    from dermx_bench.harness.weights_match import guess_architecture

    with torch.device("meta"):
        sd = timm.create_model("resnet50", pretrained=False, num_classes=6).state_dict()
    assert guess_architecture("resnet18", sd) == "resnet50"


def test_terminal_table_is_plain_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dermx_bench.leaderboard import add_run
    from dermx_bench.synthetic import demo
    from tests.lb_fixture import make_run

    lb = tmp_path / "lb"
    for name, quality, seed in (("A & B_model [v2]", 0.9, 1), ("weak", 0.1, 2)):
        add_run(make_run(tmp_path / "runs", name, quality=quality, seed=seed, n_images=30), lb)
    code, text = _run("leaderboard", "publish", "--dir", lb, "--format", "text", "--out", "-")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["Rank", "Entry"] and set(lines[1]) <= {"-", " "}
    assert "A & B_model [v2]" in text and "p<0.001 *" in text and "[95% CI]" in text
    for escape in ("&lt;", "&amp;", "\\[", "\\_", "|"):
        assert escape not in text, escape
    # the rows line up: every cell of the F1 column starts at the same offset
    col = lines[0].index("Union F1")
    assert all(line[col].isdigit() for line in lines[2:5])

    result = demo.DemoResult(tmp_path, table_md="| p&lt;0.001 \\[95% CI\\] |", ranking=["A"], table_text=text)
    monkeypatch.setattr(demo, "run_demo", lambda out, **kw: result)
    code, out = _run("demo", "--out", tmp_path / "d")
    assert code == 0 and text in out and "&lt;" not in out and "\\[" not in out, out


ZERO: dict[str, Any] = {"mean": 0.0, "std": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 6}
"""The pairwise baseline of a characteristic only one dermatologist drew on each image: every
ordered pair (drew, did not draw) scores F1 = 2|A∩S| / (|A| + |S|) = 0 and sensitivity 0."""


def test_no_pairs_reason_by_hand() -> None:
    from dermx_bench.results.baseline import no_pairs_reason
    from dermx_bench.results.figures import EMPTY_STAT, Stat

    assert "no image where two dermatologists" in str(no_pairs_reason(EMPTY_STAT))
    assert "overlap" in str(no_pairs_reason(Stat(**ZERO)))
    assert no_pairs_reason(Stat(mean=0.01, std=0.02, ci_low=0.0, ci_high=0.03, n=6)) is None


def test_no_pairs_in_summary_and_leaderboard(world: dict[str, Path], tmp_path: Path) -> None:
    from dermx_bench.harness.run import ScoreOptions, score_run
    from dermx_bench.harness.run_report import render_markdown
    from dermx_bench.leaderboard.board import build_board
    from dermx_bench.leaderboard.tables import render_markdown as board_markdown
    from dermx_bench.results.entry import parse_entry
    from dermx_bench.results.figures import Stat
    from tests.harness_util import make_submission
    from tests.lb_fixture import make_entry

    sub = make_submission(tmp_path / "sub", input_size=(48, 64))
    summary = score_run(sub, world["store"], world["photos"], tmp_path / "run",
                        ScoreOptions(device="cpu", n_boot=10, n_overlays=0, limit=6))
    ch = next(c for c in summary.localisation if c != "union")
    block = summary.localisation[ch]
    alone = block.model_copy(update={"baseline": block.baseline.model_copy(
        update={m: Stat(**ZERO) for m in ("f1", "sensitivity")})})
    md = render_markdown(summary.model_copy(update={"localisation": {**summary.localisation, ch: alone}}))
    metric_tables = md.split("## The model as one more dermatologist", 1)[0]  # not its own table
    rows = [line for line in metric_tables.splitlines() if line.startswith(f"| {ch} |")]
    assert len(rows) >= 3 and all("| no pairs |  |  | " in r for r in rows), rows  # one row per metric
    assert f"no pairs ({ch}): no two dermatologists' outlines of it overlap" in md
    for metric in ("f1", "sensitivity"):  # the dermatologists' zeros are never shown as figures
        section = md.split(f"### {metric}\n", 1)[1].split("\n### ", 1)[0]
        assert "0.000 ± 0.000 [0.000, 0.000]" not in section, section

    entry, _ = make_entry("m")
    hb = entry["human_baseline"]
    hb["localisation"]["Scale"].update(f1=ZERO, sensitivity=ZERO)  # rater to rater: no overlapping pair
    hb["like_for_like"]["Scale"]["per_rater"]["f1"] = {"mean": None, "std": None, "ci_low": None, "ci_high": None,
                                                        "n": 0}  # like-for-like: no other rater drew it
    board = build_board([parse_entry(entry)], n_boot=10)
    table = board_markdown(board)
    lines = table.split("## F1 per characteristic", 1)[1].splitlines()
    header = next(line for line in lines if line.startswith("| Entry"))
    col = [c.strip() for c in header.split("|")].index("Scale")
    for name in ("Dermatologists (like-for-like)", "Dermatologists, rater to rater"):
        row = next(line for line in lines if name in line)
        assert [c.strip() for c in row.split("|")][col] == "no pairs", row
    assert "no pairs (Scale): no image where two dermatologists outlined it" in table


def test_info_says_what_each_count_counts(world: dict[str, Path]) -> None:
    import re

    code, out = _run("info", "--store", world["store"])
    assert code == 0, out
    n_eval = int(re.search(r"Evaluations \(one per rater and image\): (\d+); kept (\d+), discarded (\d+)",
                           out).group(1))  # type: ignore[union-attr]
    m = re.search(r"They sum to\s+(\d+),\s+not (\d+): (\d+) evaluation\(s\) tag two or more diagnoses and\s+(\d+) "
                  r"tag none", out)
    assert m is not None, out
    dx_block = out.split("tag none:", 1)[1].split("Characteristics", 1)[0]
    assert int(m.group(1)) == sum(int(v) for v in re.findall(r": (\d+)", dx_block)) and int(m.group(2)) == n_eval
    for label in ("Raters (evaluations per rater)", "Gold diagnoses (images per diagnosis", "Characteristics ("):
        assert label in out


def test_center_crop_box_never_leaves_the_photograph() -> None:
    """A 149x111 photograph for a 224x224 input: the box is the central 111x111, (19, 0, 130, 111)
    by hand; scaling by 224/111 once left y0 = -7e-15, which PIL refuses."""
    from dermx_bench.harness.images import geometry

    assert geometry(111, 149, (224, 224), "shorter-side+center-crop").box == (19.0, 0.0, 130.0, 111.0)
    for w, h in ((158, 111), (175, 110), (147, 111), (333, 97)):
        box = geometry(h, w, (224, 224), "shorter-side+center-crop").box
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h
