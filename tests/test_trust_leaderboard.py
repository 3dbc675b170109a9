"""Trust, leaderboard side (issue 9): no figure can be faked, partial runs are not ranked.

Every figure of an entry is re-computed from the run files kept with it (scores.csv,
predictions.csv) or covered by its digest; a hand edit of any of them is refused by
``leaderboard add`` (exit 1, ``Error:`` naming entry.json and the field, the leaderboard
unchanged) and by ``leaderboard validate`` once on the board.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.lb_fixture import edit_entry, make_run
from tests.trust_util import cli, listing

Edit = Callable[[dict[str, Any]], None]

# every figure of an entry, edited by hand: (edit, the field the error names)
FAKES: dict[str, tuple[Edit, str]] = {
    "accuracy": (lambda d: d["diagnosis"].update(accuracy=0.99), "diagnosis"),
    "macro_f1": (lambda d: d["diagnosis"].update(macro_f1=0.99), "diagnosis"),
    "per_class": (lambda d: d["diagnosis"]["per_class"]["Acne"].update(f1=1.0), "diagnosis"),
    "confusion": (lambda d: d["diagnosis"]["confusion"].update(matrix=[[4, 0, 0], [0, 4, 0], [0, 0, 4]]),
                  "diagnosis"),
    "n_images": (lambda d: d.update(n_images=13, n_reference_images=13), "n_images"),
    "n_all_zero_maps": (lambda d: d.update(n_all_zero_maps=0), "n_all_zero_maps"),
    "weights_sha256": (lambda d: d.update(weights_sha256="f" * 64), "digest"),
    "n_reference_images": (lambda d: d.update(n_reference_images=12_000), "digest"),
    "human_baseline": (lambda d: d["human_baseline"]["diagnosis"].update(accuracy=0.1), "digest"),
    # a baseline must be the reference's figure in human_baseline (figures version 2 on): re-checked
    "baseline": (lambda d: d["localisation"]["union"]["baseline"]["f1"].update(n=1), "localisation"),
    "versions": (lambda d: d["versions"].update(torch="9.9"), "digest"),
    "method": (lambda d: d.update(method="integrated-gradients(steps=8)"), "digest"),
    "union_f1": (lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(mean=0.99), "localisation"),
}


@pytest.mark.parametrize("fake", list(FAKES))
def test_a_hand_edited_figure_is_refused(tmp_path: Path, fake: str) -> None:
    edit, field = FAKES[fake]
    lb = tmp_path / "lb"
    cli("leaderboard", "add", make_run(tmp_path / "runs", "honest"), "--dir", lb)
    before = listing(lb)
    run = make_run(tmp_path / "runs", "cheat")
    edit_entry(run, edit)
    code, out = cli("leaderboard", "add", run, "--dir", lb)
    assert code == 1 and out.startswith(f"Error: {run / 'entry.json'}: {field}: "), out
    assert "edited by hand" in out
    assert listing(lb) == before
    # the same edit on an entry already on the board: validate fails, naming it
    entry = lb / "entries" / "honest.json"
    data = json.loads(entry.read_text())
    edit(data)
    entry.write_text(json.dumps(data, indent=2))
    code, out = cli("leaderboard", "validate", "--dir", lb)
    assert code == 1 and f"{entry}: {field}: " in out and "edited by hand" in out, out


@pytest.mark.parametrize("fake", ["accuracy", "n_images", "n_all_zero_maps"])
def test_recomputing_the_digest_does_not_hide_a_faked_figure(tmp_path: Path, fake: str) -> None:
    edit, field = FAKES[fake]
    run = make_run(tmp_path / "runs", "cheat")
    edit_entry(run, edit, redigest=True)
    code, out = cli("leaderboard", "add", run, "--dir", tmp_path / "lb")
    assert code == 1 and f"{run / 'entry.json'}: {field}: " in out and "predictions.csv gives" in out, out
    assert not (tmp_path / "lb").exists()


def test_edited_predictions_are_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "cheat")
    lines = (run / "predictions.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",Acne,false", ",Psoriasis,false") if ",Acne,false" in lines[2] else lines[2] + "x"
    (run / "predictions.csv").write_text("\n".join(lines) + "\n")
    code, out = cli("leaderboard", "add", run, "--dir", tmp_path / "lb")
    assert code == 1 and "Error: " in out and ("predictions.csv" in out), out
    (run / "predictions.csv").unlink()
    code, out = cli("leaderboard", "add", run, "--dir", tmp_path / "lb")
    assert code == 1 and f"Error: {run / 'predictions.csv'}: not found" in out
    assert not (tmp_path / "lb").exists()


def test_predictions_are_kept_with_the_entry(tmp_path: Path) -> None:
    import gzip

    lb = tmp_path / "lb"
    run = make_run(tmp_path / "runs", "m")
    assert cli("leaderboard", "add", run, "--dir", lb)[0] == 0
    kept = lb / "entries" / "m" / "predictions.csv.gz"
    assert gzip.decompress(kept.read_bytes()) == (run / "predictions.csv").read_bytes()
    code, out = cli("leaderboard", "validate", "--dir", lb)
    assert code == 0 and "figures re-checked for 1" in out


def test_unfinished_run_is_not_added(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    (run / "run_state.json").write_text(json.dumps({"status": "running"}))
    code, out = cli("leaderboard", "add", run, "--dir", tmp_path / "lb")
    assert code == 1 and f"Error: {run / 'run_state.json'}: status: the run is 'running', not complete" in out
    assert not (tmp_path / "lb").exists()


def test_entries_must_agree_on_the_images_with_a_reference(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    cli("leaderboard", "add", make_run(tmp_path / "runs", "a"), "--dir", lb)
    cli("leaderboard", "add", make_run(tmp_path / "runs", "b", n_reference_images=20), "--dir", lb)
    code, out = cli("leaderboard", "validate", "--dir", lb)
    assert code == 1 and "n_reference_images 20 differs from a.json's 12" in out, out


# -- 3. partial runs are listed apart ------------------------------------------------------------


def _board_with_a_partial_run(tmp_path: Path) -> Path:
    lb = tmp_path / "lb"
    cases: list[tuple[str, dict[str, Any]]] = [("complete", {"quality": 0.3, "n_reference_images": 12}),
                                               ("partial", {"quality": 0.9, "n_images": 3, "n_reference_images": 12})]
    for name, kw in cases:
        code, out = cli("leaderboard", "add", make_run(tmp_path / "runs", name, **kw), "--dir", lb)
        assert code == 0, out
    return lb


def test_partial_run_is_not_ranked_with_complete_ones(tmp_path: Path) -> None:
    lb = _board_with_a_partial_run(tmp_path)
    code, md = cli("leaderboard", "publish", "--dir", lb, "--format", "md", "--out", "-")
    assert code == 0, md
    main_table, partial = md.split("## Partial runs (coverage below 100%; not ranked)")
    assert "| 1 | complete | gradcam (gold) | 12/12 (100%) |" in main_table and "partial" not in main_table.split(
        "## Sensitivity")[0].split("| 1 | complete")[1].split("\n\n")[0]
    assert "| – | partial | gradcam (gold) | 3/12 (25%) |" in partial.split("## Sensitivity")[0]
    # the maintainer may rank runs of lower coverage
    code, md = cli("leaderboard", "publish", "--dir", lb, "--format", "md", "--out", "-", "--min-coverage", "0.25")
    assert code == 0 and "Partial runs" not in md and "| 1 | partial |" in md and "| 2 | complete |" in md
    code, out = cli("leaderboard", "publish", "--dir", lb, "--format", "md", "--out", "-", "--min-coverage", "2")
    assert code == 2 and "2.0 is not in the range 0<=x<=1" in out


def test_partial_runs_in_every_format(tmp_path: Path) -> None:
    import csv
    import io

    lb = _board_with_a_partial_run(tmp_path)
    _, text = cli("leaderboard", "publish", "--dir", lb, "--format", "csv", "--out", "-")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["partial"]["kind"] == "partial" and rows["partial"]["rank"] == ""
    assert float(rows["partial"]["coverage"]) == 0.25 and rows["complete"]["rank"] == "1"
    _, tex = cli("leaderboard", "publish", "--dir", lb, "--format", "latex", "--out", "-")
    assert "3/12 (25\\%)" in tex
    site = tmp_path / "site"
    assert cli("leaderboard", "publish", "--dir", lb, "--format", "html", "--out", site)[0] == 0
    html = (site / "index.html").read_text()
    assert '<table id="partial"' in html and html.index('data-name="complete"') < html.index('<table id="partial"')
    assert html.index('<table id="partial"') < html.index('data-name="partial"')


def test_old_entries_without_coverage_are_still_ranked(tmp_path: Path) -> None:
    from tests.test_leaderboard_versions import _place_schema1

    lb = _place_schema1(tmp_path / "lb")
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
    cli("leaderboard", "add", make_run(tmp_path / "runs", "new", n_images=8, n_reference_images=8,
                                       content_hash=json.loads((lb / "entries" / "schema-1-entry.json").read_text())
                                       ["store"]["content_hash"]), "--dir", lb)
    code, md = cli("leaderboard", "publish", "--dir", lb, "--format", "md", "--out", "-")
    assert code == 0 and "Partial runs" not in md and "| Schema-1 entry | gradcam (gold) | 8 |" in md, md
