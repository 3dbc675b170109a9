"""Version-aware re-checking: an entry is re-checked with the figures rules it was made with.

A changed rule must never make an older entry look edited by hand: it is re-checked with
its own rules when this code still has them, reported as "computed differently" when
not, and as "newer than this dermx-bench" when it comes from the future. Entries of an
older schema (no kept predictions, no digest) stay readable on a leaderboard, with a
warning for what cannot be checked, but a run is added only with the current schema.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

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
    # the rules change: version 1 can no longer be computed, version 2 is current
    v1 = figures.FIGURE_RULES[1]
    monkeypatch.setattr(figures, "FIGURE_RULES", {2: figures.FigureRules(2, v1.localisation, v1.per_image_union,
                                                                          v1.compare)})
    monkeypatch.setattr(figures, "FIGURES_VERSION", 2)
    monkeypatch.setattr(figures, "RETIRED", {1: "intervals from 10000 resamples"})
    report = validate(lb)  # no LeaderboardError: nothing was edited
    assert report.rechecked == []
    assert sum("figures are now computed differently (version 2: intervals from 10000 resamples)" in w
               for w in report.warnings) == 2
    assert not any("edited by hand" in w for w in report.warnings)
    with pytest.raises(InputError, match="computed differently.*re-score the run"):
        add_run(make_run(tmp_path / "runs", "v1 run"), lb)


def test_entries_of_two_figures_versions_are_each_rechecked_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = figures.FIGURE_RULES[1]
    monkeypatch.setattr(figures, "FIGURE_RULES", {1: v1, 2: figures.FigureRules(2, v1.localisation,
                                                                              v1.per_image_union, v1.compare)})
    lb = _place_schema1(tmp_path / "lb")
    add_run(make_run(tmp_path / "runs", "v2", figures_version=2), lb)
    report = validate(lb)
    assert sorted(report.rechecked) == ["Schema-1 entry", "v2"]
    assert any("figures versions 1, 2" in w for w in report.warnings)
