"""Version-aware re-checking: an entry is re-checked with the figures rules it was made with.

A changed rule must never make an older entry look edited by hand: it is re-checked with
its own rules when this code still has them, reported as "computed differently" when
not, and as "newer than this dermx-bench" when it comes from the future. Entries of an
older schema (no kept predictions, no digest) stay readable on a leaderboard, with a
warning for what cannot be checked, but a run is added only with the current schema.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from dermx_bench.core.errors import InputError
from dermx_bench.leaderboard import LeaderboardError, add_run, validate
from dermx_bench.results.entry import load_entry, parse_entry
from dermx_bench.stats import figures
from tests.conftest import REPO
from tests.lb_fixture import edit_entry, make_entry, make_run

SCHEMA1 = REPO / "tests" / "golden" / "entry_schema1"  # made by dermx-bench 0.1.0; see its README


def _place_schema1(lb: Path, edit: object = None) -> Path:
    """Put the schema-1 entry on a leaderboard as an older dermx-bench added it (entry + scores.csv.gz)."""
    (lb / "entries" / "schema-1-entry").mkdir(parents=True)
    data = json.loads((SCHEMA1 / "entry.json").read_text())
    if callable(edit):
        edit(data)
    (lb / "entries" / "schema-1-entry.json").write_text(json.dumps(data, indent=2))
    (lb / "entries" / "schema-1-entry" / "scores.csv.gz").write_bytes(
        gzip.compress((SCHEMA1 / "scores.csv").read_bytes(), mtime=0))
    return lb


def test_schema1_entry_is_read_and_rechecked(tmp_path: Path) -> None:
    entry = load_entry(SCHEMA1 / "entry.json")
    assert entry.schema_version == 1 and entry.figures_version is None and entry.figures == 1
    assert entry.reference == "pairwise"  # compared with the rater-to-rater table, as all version-1 entries
    again = json.loads(entry.document())
    assert "figures_version" not in again and parse_entry(again) == entry  # written back as schema 1
    assert entry.coverage is None and entry.digest is None
    lb = _place_schema1(tmp_path / "lb")
    report = validate(lb)
    assert report.rechecked == ["Schema-1 entry"]
    assert report.warnings == [f"{lb / 'entries' / 'schema-1-entry.json'}: entry schema version 1: diagnosis, "
                               "n_images and n_all_zero_maps (no predictions.csv.gz kept), and the fields no run "
                               "file reproduces (no digest) not re-checked; re-score the run to check everything"]
    assert report.to_dict()["entries"][0]["figures_version"] == 1
    assert report.to_dict()["entries"][0]["compared_with"] == "pairwise"


def test_schema1_run_is_not_added(tmp_path: Path) -> None:
    run = tmp_path / "old-run"
    shutil.copytree(SCHEMA1, run)
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    assert info.value.where == "schema_version" and "re-score the run" in info.value.what
    assert not (tmp_path / "lb").exists()


def test_schema1_entry_edited_by_hand_is_still_refused(tmp_path: Path) -> None:
    lb = _place_schema1(tmp_path / "lb", lambda d: d["localisation"]["Plaque"]["fusion"]["f1"].update(mean=0.99))
    with pytest.raises(LeaderboardError, match="edited by hand"):
        validate(lb)


def test_figures_version_belongs_to_schema_2(tmp_path: Path) -> None:
    data = json.loads((SCHEMA1 / "entry.json").read_text())
    with pytest.raises(InputError, match="figures_version is not part of entry schema version 1"):
        parse_entry({**data, "figures_version": 1})
    with pytest.raises(InputError, match="needs figures_version"):
        parse_entry({**data, "schema_version": 2})
    assert parse_entry({**data, "schema_version": 2, "figures_version": 1}).figures == 1


def test_entry_from_a_newer_figures_version(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "future")
    edit_entry(run, lambda d: d.update(figures_version=99))
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    assert info.value.where == "figures_version" and "newer than this dermx-bench" in info.value.what
    assert "edited by hand" not in info.value.what
    # on the leaderboard already (added by a newer dermx-bench): a warning, not a problem
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "today"), lb)
    data, _ = make_entry("future")
    data["figures_version"] = 99
    (lb / "entries" / "future.json").write_text(json.dumps(data))
    shutil.copytree(lb / "entries" / "today", lb / "entries" / "future")
    report = validate(lb)
    assert report.rechecked == ["today"]
    assert any("future.json: made with figures version 99" in w and "upgrade" in w for w in report.warnings)


def test_entry_of_a_retired_figures_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lb = _place_schema1(tmp_path / "lb")
    add_run(make_run(tmp_path / "runs", "today"), lb)
    # the rules change: versions 1 and 2 can no longer be computed, version 3 is current
    v2 = figures.FIGURE_RULES[2]
    monkeypatch.setattr(figures, "FIGURE_RULES", {3: dataclasses.replace(v2, version=3)})
    monkeypatch.setattr(figures, "FIGURES_VERSION", 3)
    monkeypatch.setattr(figures, "RETIRED", {1: "intervals from 10000 resamples", 2: "intervals from 10000 resamples"})
    report = validate(lb)  # no LeaderboardError: nothing was edited
    assert report.rechecked == []
    assert sum("figures are now computed differently (version 3: intervals from 10000 resamples)" in w
               for w in report.warnings) == 2
    assert not any("edited by hand" in w for w in report.warnings)
    with pytest.raises(InputError, match="computed differently.*re-score the run"):
        add_run(make_run(tmp_path / "runs", "v2 run"), lb)


def test_entries_of_two_figures_versions_are_each_rechecked_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v2 = figures.FIGURE_RULES[2]
    monkeypatch.setattr(figures, "FIGURE_RULES", {**figures.FIGURE_RULES, 3: dataclasses.replace(v2, version=3)})
    lb = _place_schema1(tmp_path / "lb")
    add_run(make_run(tmp_path / "runs", "v2"), lb)
    run = make_run(tmp_path / "runs", "v3")
    edit_entry(run, lambda d: d.update(figures_version=3), redigest=True)
    add_run(run, lb)
    report = validate(lb)
    assert sorted(report.rechecked) == ["Schema-1 entry", "v2", "v3"]
    assert any("figures versions 1, 2, 3" in w for w in report.warnings)


def test_entry_compared_with_the_pairwise_table_is_rechecked_and_labelled(tmp_path: Path) -> None:
    """An entry of figures version 1 (compared with the pairwise rater-to-rater table) beside one
    of version 2 (like-for-like): both re-checked with their own rules, the old one labelled."""
    from dermx_bench.leaderboard import publish

    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "new", quality=0.6, seed=1), lb)
    add_run(make_run(tmp_path / "runs", "old", quality=0.5, seed=2, figures_version=1), lb)
    report = validate(lb)
    assert sorted(report.rechecked) == ["new", "old"]
    assert not any("edited by hand" in w or "differs" in w for w in report.warnings)
    old = load_entry(lb / "entries" / "old.json")
    assert old.schema_version == 3 and old.reference == "pairwise" and old.compared_with is None
    old_base = old.localisation["Plaque"].baseline.f1
    new_base = load_entry(lb / "entries" / "new.json").localisation["Plaque"].baseline.f1
    assert old_base is not None and old_base.mean == 0.5  # the pairwise table's figure
    assert new_base is not None and new_base.mean == 0.6  # the like-for-like reference's
    md = publish(lb, "md", None, n_boot=50)
    assert "Compared with the pairwise rater-to-rater table (METHODS §6) when they were made" in md
    assert md.split("when they were made")[1].split(".")[0].endswith(": old")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(publish(lb, "csv", None, n_boot=50)))}
    assert rows["old"]["compared_with"] == "pairwise" and rows["new"]["compared_with"] == "like-for-like"
    site = Path(publish(lb, "html", tmp_path / "site", n_boot=50))
    page = (site / "entries" / "old" / "index.html").read_text()
    assert "the pairwise rater-to-rater table (METHODS §6) (figures version 1)" in page
    assert "the like-for-like human reference (METHODS §8) (figures version 2)" in (
        site / "entries" / "new" / "index.html").read_text()


@pytest.mark.parametrize("edit, where", [
    (lambda d: d.update(compared_with="pairwise"), "compared_with"),
    (lambda d: d["localisation"]["Plaque"].update(baseline=d["human_baseline"]["localisation"]["Plaque"],
                                                   vs_baseline={m: {"difference": d["localisation"]["Plaque"]
                                                                    ["per_rater"][m]["mean"] - 0.5, "ratio": None}
                                                                for m in ("f1", "sensitivity", "specificity")}),
     "localisation.Plaque.baseline"),
])
def test_swapping_the_reference_is_refused(tmp_path: Path, edit: Any, where: str) -> None:
    """A like-for-like entry edited to look compared with the (lower) pairwise table is refused."""
    run = make_run(tmp_path / "runs", "flattered")
    edit_entry(run, edit, redigest=True)  # as if the run had written it so: the digest cannot tell
    with pytest.raises(InputError, match="edited by hand") as info:
        add_run(run, tmp_path / "lb")
    assert where in info.value.what


def test_schema_4_fields_belong_to_schema_4() -> None:
    data, _ = make_entry("x")
    assert parse_entry(data).reference == "like-for-like"
    with pytest.raises(InputError, match="needs compared_with"):
        parse_entry({k: v for k, v in data.items() if k != "compared_with"})
    with pytest.raises(InputError, match="must be one of pairwise, like-for-like"):
        parse_entry({**data, "compared_with": "dermatologists"})
    with pytest.raises(InputError, match="compared_with is not part of entry schema version 3"):
        parse_entry({**data, "schema_version": 3})
    with pytest.raises(InputError, match="needs human_baseline.floors"):
        parse_entry({**data, "human_baseline": {k: v for k, v in data["human_baseline"].items() if k != "floors"}})
    old, _ = make_entry("y", figures_version=1)
    again = json.loads(parse_entry(old).document())
    assert "compared_with" not in again and "like_for_like" not in again["human_baseline"]
