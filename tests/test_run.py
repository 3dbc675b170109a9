"""Scoring runs end to end on a synthetic store: files, errors, resume, and the validity check."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.core.errors import InputError
from dermx_bench.harness.run import RunConflictError, ScoreOptions, score_run
from tests import lb_fixture
from tests.harness_util import edit_config, make_submission, make_world

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
N_IMAGES = 18


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A synthetic store with its saved baseline, synthetic photos with markers, a random model."""
    root = tmp_path_factory.mktemp("world")
    sub = make_submission(root / "sub", input_size=(48, 64), target_layer="layer3")
    return {**make_world(root, N_IMAGES), "sub": sub}


def _opts(**kw: object) -> ScoreOptions:
    base: dict[str, object] = {"batch_size": 4, "n_boot": 100, "device": "cpu", "n_overlays": 3}
    base.update(kw)
    return ScoreOptions(**base)  # type: ignore[arg-type]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_end_to_end(world: dict[str, Path], tmp_path: Path) -> None:
    from dermx_bench.consensus.references import load_references
    from dermx_bench.results.entry import SCHEMA_VERSION, parse_entry
    from dermx_bench.stats.figures import FIGURES_VERSION
    from dermx_bench.store.db import Store

    out = tmp_path / "run"
    summary = score_run(world["sub"], world["store"], world["photos"], out, _opts(), now=NOW)
    files = _files(out)
    assert {"scores.csv", "predictions.csv", "summary.json", "summary.md", "entry.json", "run_state.json"} <= set(files)
    assert len([f for f in files if f.startswith("overlays/") and f.endswith(".png")]) == 3
    assert not (out / ".partial").exists()
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns)[:9] == ["image", "characteristic", "reference", "f1", "sensitivity",
                                        "specificity", "map_sum", "reference_sum", "all_zero"]
    with Store.open(world["store"]) as st:
        refs = load_references(st)
    expected_rows = sum(len(r.drawn(c)) + 1 for r in refs for c in [*r.characteristics(), "union"] if r.drawn(c))
    assert len(scores) == expected_rows
    assert set(scores["reference"].str.split(":").str[0]) == {"rater", "fusion"}
    entry = json.loads((out / "entry.json").read_text())
    parse_entry(entry)  # the leaderboard's schema accepts it
    assert entry["schema_version"] == SCHEMA_VERSION and entry["figures_version"] == FIGURES_VERSION
    # the figures, recomputed from scores.csv without dermx_bench's statistics
    assert _numbers(entry["localisation"], lb_fixture.localisation(scores, 0, 100))
    assert _numbers(entry["per_image_union"], lb_fixture.per_image_union(scores))
    union = scores[(scores["characteristic"] == "union") & scores["reference"].str.startswith("rater:")]
    by_image = union.groupby("image")["f1"].mean()  # mean over raters, then over images
    assert entry["localisation"]["union"]["per_rater"]["f1"]["mean"] == pytest.approx(by_image.mean(), abs=1e-12)
    assert entry["localisation"]["union"]["per_rater"]["f1"]["n"] == by_image.notna().sum()
    assert entry["date"] == "2026-01-02T03:04:05+00:00"
    assert entry["n_images"] == summary.n_images == len(refs)
    assert entry["store"]["baseline_options"]["localisation_multi_diagnosis"] == "drop"
    assert set(entry["per_image_union"]) <= {r.image for r in refs}
    assert sum(map(sum, entry["diagnosis"]["confusion"]["matrix"])) == len(refs)
    # compared with the like-for-like reference, shown beside the floors and the rater-to-rater table
    assert entry["compared_with"] == summary.compared_with == "like-for-like"
    like = entry["human_baseline"]["like_for_like"]
    for c, block in entry["localisation"].items():
        assert block["baseline"] == (like[c]["per_rater"] if c in like else
                                     {"f1": None, "sensitivity": None, "specificity": None})
    assert set(entry["human_baseline"]["floors"]) == {"ones", "gaussian", "zeros"}
    md = (out / "summary.md").read_text()
    assert "union" in md and "the like-for-like human reference (METHODS §8)" in md
    assert "| floor: ones | floor: gaussian | floor: zeros | rater-to-rater (§6) |" in md
    assert "within its interval of a trivial floor" in md
    assert md.index("### f1") < md.index("### sensitivity") < md.index("### specificity")
    sens = next(line for line in md.split("### sensitivity")[1].splitlines() if line.startswith("| union |"))
    spec = next(line for line in md.split("### specificity")[1].splitlines() if line.startswith("| union |"))
    assert sens.split(" | ")[-4] == "1.000" and spec.split(" | ")[-2] == "1.000"  # ones / zeros give them free
    assert summary.all_zero_maps.n == entry["n_all_zero_maps"]
    assert json.loads((out / "summary.json").read_text()) == json.loads(summary.model_dump_json())


def _numbers(stated: object, expected: object, tol: float = 1e-9) -> bool:
    """``stated`` has every field of ``expected`` with the same value (numbers within ``tol``)."""
    if isinstance(expected, dict):
        return isinstance(stated, dict) and all(k in stated and _numbers(stated[k], v, tol)
                                                for k, v in expected.items())
    if isinstance(expected, float) and isinstance(stated, float):
        return math.isclose(stated, expected, rel_tol=tol, abs_tol=tol)
    return stated == expected


def test_map_maths_overlapped_with_the_next_forward_gives_the_same_results(world: dict[str, Path]) -> None:
    """The accelerator's loop (batch b finished in a thread while b+1 is explained) and the CPU's agree."""
    from dermx_bench.harness.run import _local_results
    from dermx_bench.harness.run_plan import plan_run

    opts = _opts(batch_size=3)
    plan = plan_run(world["sub"], world["store"], world["photos"], opts)
    names = [r.image for r in plan.refs]
    batches = [names[k : k + 3] for k in range(0, len(names), 3)]
    for done in (0, 2):  # from the start, and resumed after two batches
        runs = {overlap: list(_local_results(plan, opts, batches, done, overlap)) for overlap in (False, True)}
        assert len(runs[True]) == len(batches) - done
        for a, b in zip(runs[False], runs[True], strict=True):
            assert (a.score_rows, a.pred_rows) == (b.score_rows, b.pred_rows)
            assert [(m[0], m[1].tobytes()) for m in a.maps] == [(m[0], m[1].tobytes()) for m in b.maps]


def test_cli_bad_submission_writes_nothing(world: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(world["sub"], bad)
    edit_config(bad, model="resnet5O")
    out = tmp_path / "out"
    args = ["score", str(bad), "--store", str(world["store"]), "--images", str(world["photos"]), "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "Error:" in res.output and "resnet50" in res.output
    assert not out.exists()
    res = CliRunner().invoke(main, [*args[:1], str(world["sub"]), *args[2:], "--method", "gradcam2"])
    assert res.exit_code == 1 and "unknown explanation method 'gradcam2'" in res.output and "hirescam" in res.output
    assert not out.exists()
    # a pickle with code instead of weights: refused, nothing written
    import torch

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return (os.system, ("touch " + str(tmp_path / "PWNED"),))

    edit_config(bad, model="test_resnet", weights="model.pt")
    torch.save({"x": Evil()}, bad / "model.pt")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "refused" in res.output
    assert not out.exists() and not (tmp_path / "PWNED").exists()


def test_missing_photographs(world: dict[str, Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(world["photos"], photos)
    victims = sorted(photos.glob("*.png"))[:2]
    for v in victims:
        v.unlink()
    out = tmp_path / "run"
    with pytest.raises(InputError) as err:
        score_run(world["sub"], world["store"], photos, out, _opts())
    assert all(v.stem in str(err.value) for v in victims) and "--skip-missing" in str(err.value)
    assert not out.exists()
    summary = score_run(world["sub"], world["store"], photos, out, _opts(skip_missing=True))
    assert summary.skipped_photographs.n == 2
    assert summary.skipped_photographs.by_problem == {"missing": 2}
    full = score_run(world["sub"], world["store"], world["photos"], tmp_path / "full", _opts(n_overlays=0))
    assert summary.n_images == full.n_images - 2


def test_out_folder_conflicts(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "other.txt").write_text("x")
    with pytest.raises(RunConflictError, match="not empty"):
        score_run(world["sub"], world["store"], world["photos"], out, _opts())
    out2 = tmp_path / "run2"
    score_run(world["sub"], world["store"], world["photos"], out2, _opts(n_overlays=0), now=NOW)
    with pytest.raises(RunConflictError, match="holds a finished run; choose a new --out$"):
        score_run(world["sub"], world["store"], world["photos"], out2, _opts(n_overlays=0))
    with pytest.raises(RunConflictError, match="different method"):
        score_run(world["sub"], world["store"], world["photos"], out2, _opts(n_overlays=0, method="eigencam"),
                  resume=True)
    before = _files(out2)
    again = score_run(world["sub"], world["store"], world["photos"], out2, _opts(n_overlays=0), resume=True)
    assert _files(out2) == before and again.n_images > 0


class _Kill(BaseException):
    pass


def test_resume_after_interruption_is_identical(world: dict[str, Path], tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    score_run(world["sub"], world["store"], world["photos"], whole, _opts(), now=NOW)
    part = tmp_path / "part"
    seen = {"n": 0}

    def kill_after_two(n: int) -> None:
        seen["n"] += 1
        if seen["n"] == 2:
            raise _Kill

    with pytest.raises(_Kill):
        score_run(world["sub"], world["store"], world["photos"], part, _opts(), now=NOW, on_batch=kill_after_two)
    state = json.loads((part / "run_state.json").read_text())
    assert state["status"] == "running" and state["batches_done"] == 2
    # a batch half-written when the process died
    with open(part / ".partial" / "scores.part.csv", "a") as fh:
        fh.write("synth0099,Plaque,rater:r1,0.1,0.")
    (part / ".run_state.json.tmp").write_text("{")  # killed while replacing the state
    (part / "overlays" / ".x.png.tmp").write_bytes(b"\x89PNG")
    assert not (part / "entry.json").exists()
    score_run(world["sub"], world["store"], world["photos"], part, _opts(), resume=True)
    assert _files(part) == _files(whole)


def test_resume_after_sigkill_is_identical(world: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(int(NOW.timestamp()))}
    whole = tmp_path / "whole"
    score_run(world["sub"], world["store"], world["photos"], whole, _opts(batch_size=1, n_overlays=2), now=NOW)
    part = tmp_path / "part"
    cmd = [sys.executable, "-m", "dermx_bench.cli", "score", str(world["sub"]), "--store", str(world["store"]),
           "--images", str(world["photos"]), "--batch-size", "1", "--n-boot", "100", "--device", "cpu",
           "--overlays", "2", "--out", str(part)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    killed = False
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                state = json.loads((part / "run_state.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                state = {}
            if state.get("batches_done", 0) >= 3:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.02)
    finally:
        proc.wait(timeout=60)
    if not killed:
        pytest.skip("the run finished before it could be killed")
    assert proc.returncode == -signal.SIGKILL
    assert not (part / "entry.json").exists()
    res = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert _files(part) == _files(whole)


def test_predicted_target_eigencam_and_excluded(world: dict[str, Path], tmp_path: Path) -> None:
    summary = score_run(world["sub"], world["store"], world["photos"], tmp_path / "p",
                        _opts(target="predicted", method="eigencam", n_overlays=0))
    preds = pd.read_csv(tmp_path / "p" / "predictions.csv")
    assert (preds["target"] == preds["predicted"]).all()
    assert summary.excluded_images.n == 0
    n_all = summary.n_images
    sub3 = make_submission(tmp_path / "sub3", classes=["Acne", "Psoriasis", "ignore"], input_size=(48, 64))
    summary = score_run(sub3, world["store"], world["photos"], tmp_path / "g", _opts(n_overlays=0))
    assert summary.excluded_images.n > 0
    assert summary.n_images + summary.excluded_images.n == n_all and summary.n_images > 0
    preds = pd.read_csv(tmp_path / "g" / "predictions.csv")
    assert set(preds["gold"]) <= {"Acne", "Psoriasis"}
    assert set(preds["predicted"]) <= {"Acne", "Psoriasis"}


@pytest.mark.slow
def test_validity_lesion_model_beats_marker_model(world: dict[str, Path], tmp_path: Path) -> None:
    """The harness's basic validity check: a model that looks at the lesions localises them
    better than a model that can only use the spurious marker."""
    from dermx_bench.synthetic.train import train_synthetic_submission

    results = {}
    for cue in ("lesions", "marker"):
        sub, acc = train_synthetic_submission(tmp_path / cue, cue=cue, seed=0)  # test_resnet, 48x64, layer2
        assert acc > 0.5, f"{cue} model did not learn its cue (accuracy {acc:.2f})"
        summary = score_run(sub, world["store"], world["photos"], tmp_path / f"run_{cue}", _opts(n_overlays=1))
        results[cue] = summary.localisation["union"].per_rater
    les, mk = results["lesions"], results["marker"]
    assert les.sensitivity.mean > mk.sensitivity.mean + 0.15, results  # type: ignore[operator]
    assert les.f1.mean > mk.f1.mean + 0.1, results  # type: ignore[operator]
    assert les.f1.ci_low > mk.f1.ci_high, results  # type: ignore[operator]


def test_synthetic_photographs(world: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    from dermx_bench.store.db import Store
    from dermx_bench.synthetic.images import marker_box, write_store_images

    with Store.open(world["store"]) as st:
        infos = {im.name: im for im in st.images()}
    photos = sorted(world["photos"].glob("*.png"))
    assert len(photos) == len(infos)
    for p in photos[:4]:
        im = Image.open(p)
        info = infos[p.stem]
        assert im.size == (info.width, info.height)
        arr = np.asarray(im)
        r0, c0, r1, c1 = marker_box(info.height, info.width, str(info.gold))
        assert (arr[r0, c0] == 255).all()  # the marker's white ring
    # deterministic per image and seed, independent of which images are made
    one = sorted(infos)[3]
    rep = write_store_images(world["store"], tmp_path / "again", seed=1, marker=True, images=[one])
    assert rep.written == 1
    assert (tmp_path / "again" / f"{one}.png").read_bytes() == (world["photos"] / f"{one}.png").read_bytes()
    res = CliRunner().invoke(main, ["synth-images", "--store", str(world["store"]), str(tmp_path / "cli"),
                                    "--seed", "2", "--format", "jpeg", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["written"] == len(infos)
    assert len(list((tmp_path / "cli").glob("*.jpeg"))) == len(infos)


@pytest.mark.dermx
def test_real_v1_annotations_with_synthetic_photos(tmp_path: Path) -> None:
    """The harness on the real v1-2021 annotations: photos for 24 images, the rest reported as skipped."""
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.consensus.references import load_references
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.images import write_store_images
    from tests.conftest import dermx_data

    root = dermx_data() / "v1-2021"
    db = tmp_path / "v1.db"
    ingest_sources(db, [root / "annotations"], metadata=root / "metadata.csv")
    with Store.open(db, write=True) as st:
        save_baselines(st, "2026-01-01T00:00:00+00:00")
        refs = load_references(st)
    assert len(refs) == 525
    some = [r.image for r in refs[::22]][:24]
    write_store_images(db, tmp_path / "photos", seed=0, marker=True, fmt="jpeg", images=some)
    sub = make_submission(tmp_path / "sub", input_size=(64, 64))
    summary = score_run(sub, db, tmp_path / "photos", tmp_path / "run", _opts(skip_missing=True, batch_size=8))
    assert summary.n_images == len(some)
    assert summary.skipped_photographs.n == 525 - len(some)
    entry = json.loads((tmp_path / "run" / "entry.json").read_text())
    assert "union" in entry["localisation"] and entry["localisation"]["union"]["baseline"]["f1"] is not None
