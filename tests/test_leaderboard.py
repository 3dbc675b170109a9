"""Leaderboard: adding runs (figures re-checked), validation, ranking and every output format."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.core.errors import InputError
from dermx_bench.leaderboard import (
    LeaderboardError,
    MixedStoreError,
    add_run,
    publish,
    validate,
)
from dermx_bench.leaderboard.board import FLOOR_PREFIX, HUMAN_NAME, PAIRWISE_NAME
from dermx_bench.leaderboard.ranking import rank_entries
from dermx_bench.leaderboard.tables import latex_escape, md_escape
from tests.lb_fixture import edit_entry, make_entry, make_run

EVIL = 'Evil <script>alert("x")</script> & co_100% #1'


@pytest.fixture
def board(tmp_path: Path) -> Path:
    """A leaderboard with three entries: honest (best), EVIL (middle), shortcut (worst)."""
    lb = tmp_path / "lb"
    for name, quality, seed in [("honest", 0.6, 1), (EVIL, 0.5, 2), ("shortcut", 0.3, 3)]:
        add_run(make_run(tmp_path / "runs", name, quality=quality, seed=seed), lb)
    return lb


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# -- add ----------------------------------------------------------------------------------


def test_add_stores_entry_scores_and_overlays(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "Model A", overlays=2)
    result = add_run(run, tmp_path / "lb")
    assert result.name == "Model A" and not result.replaced and result.overlays == 2
    e = tmp_path / "lb" / "entries"
    assert result.file == e / "model-a.json"
    assert json.loads(result.file.read_text()) == json.loads((run / "entry.json").read_text())
    assert sorted(p.name for p in (e / "model-a" / "overlays").iterdir()) == ["overlay_0.png", "overlay_1.png"]
    with gzip.open(e / "model-a" / "scores.csv.gz", "rb") as fh:
        assert fh.read() == (run / "scores.csv").read_bytes()
    assert [p.name for p in e.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_tampered_entry_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "cheat", quality=0.3)

    def boost(d: dict) -> None:
        d["localisation"]["union"]["per_rater"]["f1"]["mean"] += 0.2

    edit_entry(run, boost)
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    err = info.value
    assert err.file == str(run / "entry.json") and err.where == "localisation"
    assert "edited by hand" in err.what
    assert "localisation.union.per_rater.f1.mean" in err.what
    assert _files(tmp_path / "lb") in ([], ["entries"])


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["localisation"]["Plaque"]["fusion"]["sensitivity"].update(ci_high=0.99),
        lambda d: d["localisation"]["Scale"].update(n_images=3),
        lambda d: d["localisation"].pop("Papule"),
        lambda d: d["localisation"]["union"]["per_rater"]["specificity"].update(std=None),
    ],
)
def test_any_hand_edit_of_reproducible_figures_is_refused(tmp_path: Path, edit) -> None:
    run = make_run(tmp_path / "runs", "m")
    edit_entry(run, edit)
    with pytest.raises(InputError, match="scores.csv"):
        add_run(run, tmp_path / "lb")


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["per_image_union"]["img003"].update(f1=1.0), "per_image_union.img003.f1"),
        (lambda d: d["per_image_union"].pop("img004"), "per_image_union.img004: missing"),
        (lambda d: d["per_image_union"].update(ghost=d["per_image_union"].pop("img005")),
         "per_image_union: entry has 1 key(s) scores.csv lacks: ghost"),
        (lambda d: d["localisation"]["Scale"]["vs_baseline"]["f1"].update(difference=0.4),
         "localisation.Scale.vs_baseline.f1.difference"),
        (lambda d: d["localisation"]["union"]["vs_baseline"]["sensitivity"].update(ratio=None),
         "localisation.union.vs_baseline.sensitivity.ratio"),
    ],
)
def test_per_image_and_baseline_comparisons_are_checked(tmp_path: Path, edit, needle: str) -> None:
    run = make_run(tmp_path / "runs", "m")
    edit_entry(run, edit)
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    assert needle in info.value.what and "edited by hand" in info.value.what


def test_scores_without_the_harness_columns(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    (run / "scores.csv").write_text("image,characteristic,f1\na,union,0.5\n")
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    assert info.value.file == str(run / "scores.csv") and "lacks column" in info.value.what


@pytest.mark.parametrize(("shift", "accepted"), [(1e-12, True), (-5e-10, True), (1e-7, False)])
def test_rounding_noise_within_tolerance_is_accepted(tmp_path: Path, shift: float, accepted: bool) -> None:
    """Tolerance 1e-9: noise below it (e.g. another summation order) passes, more does not
    (the entry as a run on another machine would have written it, its digest included)."""
    run = make_run(tmp_path / "runs", "m")
    stated = json.loads((run / "entry.json").read_text())["localisation"]["union"]["per_rater"]["f1"]["mean"]
    edit_entry(run, lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(mean=stated + shift),
               redigest=True)
    if accepted:
        result = add_run(run, tmp_path / "lb")
        kept = json.loads(result.file.read_text())["localisation"]["union"]["per_rater"]["f1"]["mean"]
        assert kept == stated + shift  # stored as written, not replaced by the recomputed value
        assert validate(tmp_path / "lb").rechecked == ["m"]
    else:
        with pytest.raises(InputError, match="localisation.union.per_rater.f1.mean"):
            add_run(run, tmp_path / "lb")


def test_edited_scores_are_refused_too(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    text = (run / "scores.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[3] = "0.999"
    text[1] = ",".join(cells)
    (run / "scores.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match="edited by hand"):
        add_run(run, tmp_path / "lb")


def test_run_without_scores_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    (run / "scores.csv").unlink()
    with pytest.raises(InputError, match="scores.csv"):
        add_run(run, tmp_path / "lb")
    assert not (tmp_path / "lb").exists()


def test_invalid_entry_names_the_run_file(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    edit_entry(run, lambda d: d.pop("weights_sha256"))
    with pytest.raises(InputError) as info:
        add_run(run, tmp_path / "lb")
    assert info.value.file == str(run / "entry.json") and info.value.where == "weights_sha256"


def test_fake_png_overlay_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m")
    (run / "overlays" / "evil.png").write_text("<script>alert(1)</script>")
    with pytest.raises(InputError, match="not a PNG"):
        add_run(run, tmp_path / "lb")


def test_symlinked_overlay_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "m", overlays=0)
    (run / "overlays").mkdir(exist_ok=True)
    (run / "overlays" / "x.png").symlink_to(run / "entry.json")
    with pytest.raises(InputError, match="symbolic link"):
        add_run(run, tmp_path / "lb")


def test_same_name_needs_replace(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "m", quality=0.4), lb)
    second = make_run(tmp_path / "runs", "m", quality=0.7, overlays=0)
    with pytest.raises(LeaderboardError, match="--replace"):
        add_run(second, lb)
    assert json.loads((lb / "entries" / "m.json").read_text())["localisation"]["union"]["per_rater"]["f1"]["mean"] < 0.5
    result = add_run(second, lb, replace=True)
    assert result.replaced
    assert json.loads((lb / "entries" / "m.json").read_text())["localisation"]["union"]["per_rater"]["f1"]["mean"] > 0.6
    assert list((lb / "entries" / "m" / "overlays").iterdir()) == []  # old overlays gone
    assert sorted(p.name for p in (lb / "entries").iterdir()) == ["m", "m.json"]


def test_names_sharing_a_file_stem_are_refused(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "Model A"), lb)
    with pytest.raises(LeaderboardError, match="share a file name"):
        add_run(make_run(tmp_path / "runs", "model/a"), lb, replace=True)


def test_adding_another_store_is_refused(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "a"), lb)
    other = make_run(tmp_path / "runs", "b", content_hash="cd" * 32)
    with pytest.raises(MixedStoreError) as info:
        add_run(other, lb)
    assert "cdcdcdcdcdcd" in str(info.value) and "abababababab" in str(info.value)
    assert not (lb / "entries" / "b.json").exists()


# -- validate -----------------------------------------------------------------------------


def test_validate_ok(board: Path) -> None:
    report = validate(board)
    assert len(report.entries) == 3 and len(report.rechecked) == 3 and report.warnings == []
    assert report.content_hash == "ab" * 32
    d = report.to_dict()
    assert d["ok"] is True and {e["name"] for e in d["entries"]} == {"honest", EVIL, "shortcut"}


def _put_entry(lb: Path, entry: dict) -> Path:
    from dermx_bench.results.entry import entry_file_stem

    p = lb / "entries" / f"{entry_file_stem(entry['name'])}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(entry))
    return p


def test_mixed_store_hashes_are_reported(board: Path) -> None:
    entry, _ = make_entry("other store", content_hash="cd" * 32)
    _put_entry(board, entry)
    with pytest.raises(MixedStoreError) as info:
        validate(board)
    err = info.value
    assert len(err.groups) == 2
    named = {h: names for (h, _o), names in err.groups.items()}
    assert named["cd" * 32] == ["other store"]
    assert sorted(named["ab" * 32]) == sorted(["honest", EVIL, "shortcut"])
    assert "different store contents or baseline options" in str(err)
    assert "other store" in str(err)


def test_mixed_baseline_options_are_reported(board: Path) -> None:
    entry, _ = make_entry("other options", options={"multi_diagnosis": "first", "fusion": "fuzzy"})
    _put_entry(board, entry)
    with pytest.raises(MixedStoreError, match="multi_diagnosis=first"):
        validate(board)


def test_entry_edited_after_adding_is_caught(board: Path) -> None:
    p = board / "entries" / "shortcut.json"
    data = json.loads(p.read_text())
    data["localisation"]["union"]["per_rater"]["f1"]["mean"] = 0.99
    p.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError, match="shortcut.json: localisation"):
        validate(board)
    validate(board, recheck=False)  # schema-only check passes


def test_problems_of_several_entries_are_listed_together(board: Path) -> None:
    (board / "entries" / "junk.json").write_text("{not json")
    p = board / "entries" / "honest.json"
    data = json.loads(p.read_text())
    data.pop("method")
    p.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError) as info:
        validate(board)
    assert len(info.value.problems) == 2
    assert any("junk.json" in x for x in info.value.problems)
    assert any("honest.json: method" in x for x in info.value.problems)


def test_entry_under_wrong_file_name(board: Path) -> None:
    (board / "entries" / "honest.json").rename(board / "entries" / "renamed.json")
    with pytest.raises(LeaderboardError, match="must be stored as honest.json"):
        validate(board)


def test_entry_without_kept_run_files_is_a_problem(board: Path) -> None:
    (board / "entries" / "honest" / "predictions.csv.gz").unlink()
    with pytest.raises(LeaderboardError, match="honest.json: run_files.predictions_sha256: the run's predictions.csv "
                                               "is not there"):
        validate(board)
    (board / "entries" / "honest" / "scores.csv.gz").unlink()
    with pytest.raises(LeaderboardError, match="scores.csv.gz: run file not found"):
        validate(board)


def test_missing_leaderboard(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no leaderboard entries folder"):
        validate(tmp_path / "nowhere")


# -- ranking ------------------------------------------------------------------------------


def test_rank_order_ties_and_top() -> None:
    from dermx_bench.results.entry import parse_entry

    entries = [parse_entry(make_entry(n, quality=q, seed=s)[0])
               for n, q, s in [("c", 0.4, 1), ("a", 0.7, 2), ("b", 0.4, 1), ("d", 0.2, 3)]]
    ranked = rank_entries(entries, n_boot=100, top=2)
    assert [(r.rank, r.entry.name) for r in ranked] == [(1, "a"), (2, "b"), (2, "c"), (4, "d")]
    assert [r.vs_next is not None for r in ranked] == [True, True, False, False]
    assert ranked[0].next_name == "b" and ranked[1].vs_next.difference == 0  # type: ignore[union-attr]


# -- publish ------------------------------------------------------------------------------


REFS = [HUMAN_NAME, PAIRWISE_NAME, *(f"{FLOOR_PREFIX}{f}" for f in ("ones", "gaussian", "zeros"))]
"""The reference rows every table starts with: the dermatologists like for like and rater to rater, the floors."""


def test_every_format_has_the_dermatologist_and_floor_rows(board: Path, tmp_path: Path) -> None:
    for fmt in ("md", "csv", "latex"):
        text = publish(board, fmt, None, n_boot=200)
        for name in REFS:
            assert name.replace("\u00a7", "\\S{}" if fmt == "latex" else "\u00a7") in text, (fmt, name)
    site = Path(publish(board, "html", tmp_path / "site", n_boot=200))
    page = (site / "index.html").read_text()
    assert all(name in page for name in REFS)


def test_per_characteristic_tables_lead_with_f1_and_mark_floors(board: Path) -> None:
    text = publish(board, "md", None, n_boot=200)
    assert "## Sensitivity per characteristic" not in text  # never alone
    assert text.index("## F1 per characteristic") < text.index("## Sensitivity / specificity per characteristic")
    f1_rows = text.split("## F1 per characteristic")[1].split("##")[0].splitlines()
    shortcut = next(r for r in f1_rows if r.startswith("| shortcut |"))
    # the fixture's floors: ones F1 0.3 (interval 0.26-0.34); the shortcut (quality 0.3) is within reach of it
    assert shortcut.count("\u2020") == 3
    assert "within its interval of a trivial floor" in text


def test_markdown_ranks_and_escapes(board: Path, tmp_path: Path) -> None:
    out = tmp_path / "README.md"
    text = publish(board, "md", out, n_boot=200)
    assert out.read_text() == text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    names = [r.split(" | ")[1] for r in rows[1:9]]
    assert names[:5] == REFS and names[5] == "honest" and names[7] == "shortcut"
    assert "<script>" not in text
    assert "&lt;script&gt;" in names[6] and "co\\_100%" in names[6] and "\\#1" in names[6]
    # every table row has the same number of cells (no '|' leaked from a name)
    first = rows[0].count(" | ")
    assert all(r.count(" | ") == first for r in rows[:9])
    assert rows[6].endswith(", p=0.010 * |")  # honest vs EVIL: clear; p >= 2/(n_boot+1)
    assert "p&lt;0.001" in publish(board, "md", None)  # default 10000 resamples
    assert "## F1 per characteristic" in text and "| Papule | Plaque | Scale |" in text


def test_md_escape() -> None:
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<b>*x*</b>") == "&lt;b&gt;\\*x\\*&lt;/b&gt;"
    assert md_escape("[link](http://x)") == "\\[link\\](http://x)"


def test_csv_round_trips(board: Path) -> None:
    text = publish(board, "csv", "-", n_boot=200)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == [*REFS, "honest", EVIL, "shortcut"]
    assert [r["rank"] for r in rows] == [""] * 5 + ["1", "2", "3"]
    assert [r["kind"] for r in rows[:5]] == ["human", "pairwise", "floor", "floor", "floor"]
    assert rows[0]["union_f1_mean"] == "0.6" and rows[1]["union_f1_mean"] == "0.5"  # like-for-like, pairwise
    assert float(rows[5]["union_f1_mean"]) > float(rows[6]["union_f1_mean"])
    assert rows[5]["vs_next_name"] == EVIL and rows[5]["vs_next_significant"] == "true"
    assert rows[7]["vs_next_p"] == ""
    assert rows[5]["compared_with"] == "like-for-like" and rows[0]["compared_with"] == ""
    for m in ("f1", "sensitivity", "specificity"):
        assert f"{m}[Plaque]_mean" in rows[0] and f"{m}[Plaque]_at_floor" in rows[0]
    assert rows[7]["union_f1_at_floor"] == "ones"  # shortcut (quality 0.3) vs the ones floor (F1 0.3)
    # sensitivity and specificity are judged together: no single floor reaches the honest entry on both
    assert rows[5]["union_f1_at_floor"] == "" and rows[5]["union_sensitivity_at_floor"] == ""


def test_csv_guards_formulas(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "=HYPERLINK(1)"), lb)
    rows = list(csv.DictReader(io.StringIO(publish(lb, "csv", None, n_boot=50))))
    assert rows[len(REFS)]["name"] == "'=HYPERLINK(1)"


def _check_latex(text: str) -> None:
    stack: list[str] = []
    for m in re.finditer(r"\\(begin|end)\{([^}]*)\}", text):
        if m.group(1) == "begin":
            stack.append(m.group(2))
        else:
            assert stack and stack.pop() == m.group(2), m.group(0)
    assert stack == []
    body = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    body = body.replace("$\\Delta$", "D")  # the only math mode we write
    for ch in "_%#$":
        assert re.search(rf"(?<!\\){re.escape(ch)}", body) is None, ch
    assert body.count("{") == body.count("}") + body.count("\\}") - body.count("\\{")
    for line in body.splitlines():  # '&' only as column separator
        if line.endswith("\\\\"):
            assert line.count(" & ") == len(re.findall(r"(?<!\\)&", line))


def test_latex_is_valid(board: Path) -> None:
    text = publish(board, "latex", None, n_boot=200)
    _check_latex(text)
    assert text.count("\\toprule") == 3 and text.count("\\bottomrule") == 3
    assert "\\usepackage{booktabs}" in text
    assert "Evil \\textless{}script\\textgreater{}" in text
    assert "\\& co\\_100\\% \\#1" in text
    # columns: every row of a tabular has as many cells as its column spec
    for spec, block in re.findall(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", text, re.S):
        for line in block.splitlines():
            if line.endswith("\\\\"):
                assert len(re.findall(r"(?<!\\)&", line)) == len(spec) - 1


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a_b", "a\\_b"), ("50%", "50\\%"), ("R&D", "R\\&D"), ("$x$", "\\$x\\$"), ("#1", "\\#1"),
        ("{x}", "\\{x\\}"), ("~", "\\textasciitilde{}"), ("^", "\\textasciicircum{}"),
        ("a\\b", "a\\textbackslash{}b"), ("[x]", "{[}x{]}"),
    ],
)
def test_latex_escape(raw: str, escaped: str) -> None:
    assert latex_escape(raw) == escaped


def test_latex_survives_hostile_names(tmp_path: Path) -> None:
    lb = tmp_path / "lb"
    add_run(make_run(tmp_path / "runs", "x \\end{table} }{ \\def\\a{b} % ^~ [y]"), lb)
    _check_latex(publish(lb, "latex", None, n_boot=50))


def test_publish_is_deterministic(board: Path) -> None:
    assert publish(board, "md", None, n_boot=300, seed=3) == publish(board, "md", None, n_boot=300, seed=3)


def test_publish_refuses_mixed_stores(board: Path) -> None:
    entry, _ = make_entry("other store", content_hash="cd" * 32)
    _put_entry(board, entry)
    with pytest.raises(MixedStoreError):
        publish(board, "md", None)


def test_publish_empty_leaderboard(tmp_path: Path) -> None:
    (tmp_path / "lb" / "entries").mkdir(parents=True)
    with pytest.raises(LeaderboardError, match="nothing to publish"):
        publish(tmp_path / "lb", "md", None)


def test_site_layout_and_escaping(board: Path, tmp_path: Path) -> None:
    site = Path(publish(board, "html", tmp_path / "site", n_boot=200))
    files = _files(site)
    assert "index.html" in files and ".dermx-bench-site" in files
    assert "entries/honest/index.html" in files and "entries/honest/overlays/overlay_0.png" in files
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert "<script>alert" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
        assert html.count("<script>") <= 1
    evil = site / "entries" / "evil-script-alert-x-script-co_100-1" / "index.html"
    text = evil.read_text()
    assert "Evil &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co_100% #1" in text
    assert "<svg" in text and 'id="confusion"' in text and "overlays/overlay_0.png" in text


def test_site_replaces_only_its_own_folder(board: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    publish(board, "html", site, n_boot=50)
    (site / "stale.txt").write_text("x")
    publish(board, "html", site, n_boot=50)  # a previous site is replaced
    assert not (site / "stale.txt").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="refusing to replace"):
        publish(board, "html", other, n_boot=50)
    assert (other / "thesis.tex").read_text() == "precious"
    with pytest.raises(InputError, match="folder"):
        publish(board, "html", None)


# -- CLI ----------------------------------------------------------------------------------


def test_cli_add_validate_publish(tmp_path: Path) -> None:
    runner = CliRunner()
    lb = tmp_path / "lb"
    run = make_run(tmp_path / "runs", "cli model")
    r = runner.invoke(main, ["leaderboard", "add", str(run), "--dir", str(lb)])
    assert r.exit_code == 0, r.output
    assert "added 'cli model'" in r.output
    r = runner.invoke(main, ["leaderboard", "add", str(run), "--dir", str(lb)])
    assert r.exit_code == 1 and "Error:" in r.output and "--replace" in r.output
    r = runner.invoke(main, ["leaderboard", "add", str(run), "--dir", str(lb), "--replace", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["replaced"] is True

    r = runner.invoke(main, ["leaderboard", "validate", "--dir", str(lb)])
    assert r.exit_code == 0 and "1 entry OK" in r.output
    r = runner.invoke(main, ["leaderboard", "validate", "--dir", str(lb), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["entries"][0]["figures_rechecked"] is True

    r = runner.invoke(main, ["leaderboard", "publish", "--dir", str(lb), "--format", "md", "--out", "-",
                             "--n-boot", "50"])
    assert r.exit_code == 0 and HUMAN_NAME in r.output and "cli model" in r.output
    out = tmp_path / "table.tex"
    r = runner.invoke(main, ["leaderboard", "publish", "--dir", str(lb), "--format", "latex", "--out", str(out)])
    assert r.exit_code == 0 and out.read_text().startswith("% DermX")
    r = runner.invoke(main, ["leaderboard", "publish", "--dir", str(lb), "--format", "html", "--out", "-"])
    assert r.exit_code == 2 and "folder" in r.output
    r = runner.invoke(main, ["leaderboard", "publish", "--dir", str(lb), "--format", "pdf", "--out", "-"])
    assert r.exit_code == 2


def test_cli_refuses_tampered_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs", "cheat")
    edit_entry(run, lambda d: d["localisation"]["union"]["fusion"]["f1"].update(mean=0.99))
    r = CliRunner().invoke(main, ["leaderboard", "add", str(run), "--dir", str(tmp_path / "lb")])
    assert r.exit_code == 1
    assert "Error:" in r.output and "edited by hand" in r.output and "union.fusion.f1.mean" in r.output


def test_cli_validate_reports_mixed_stores(board: Path) -> None:
    entry, _ = make_entry("other store", content_hash="cd" * 32)
    _put_entry(board, entry)
    runner = CliRunner()
    r = runner.invoke(main, ["leaderboard", "validate", "--dir", str(board)])
    assert r.exit_code == 1 and "different store" in r.output and "other store" in r.output
    r = runner.invoke(main, ["leaderboard", "validate", "--dir", str(board), "--json"])
    assert r.exit_code == 1
    payload = json.loads(r.output)
    assert payload["ok"] is False and any("cdcdcdcdcdcd" in p for p in payload["problems"])


def test_baselines_must_agree_within_one_store(board: Path) -> None:
    p = board / "entries" / "shortcut.json"
    data = json.loads(p.read_text())
    data["localisation"]["Plaque"]["baseline"]["f1"]["mean"] = 0.1  # flatter the model
    data["human_baseline"]["diagnosis"]["accuracy"] = 0.5
    p.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError) as info:
        validate(board, recheck=False)
    text = str(info.value)
    assert "localisation.Plaque.baseline differs" in text and "human_baseline.diagnosis differs" in text


# -- against real scoring runs ------------------------------------------------------------


@pytest.mark.slow
def test_real_scoring_runs_round_trip(tmp_path: Path) -> None:
    """The harness's own runs (built-in sample, two tiny random models) are accepted as is,
    ranked, published in every format; a hand edit of a real entry is refused."""
    from tests.conftest import SAMPLE
    from tests.harness_util import make_submission

    runner = CliRunner()

    def ok(*args: str) -> str:
        r = runner.invoke(main, list(args), catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    db = str(tmp_path / "s.db")
    ok("ingest", str(SAMPLE / "annotations"), "--metadata", str(SAMPLE / "metadata.csv"), "--store", db)
    ok("agreement", "--store", db, "--save")
    ok("synth-images", str(tmp_path / "photos"), "--store", db)
    lb = tmp_path / "lb"
    names = ["tiny A", "<b>tiny</b> B & co_1"]
    for i, name in enumerate(names):
        sub = make_submission(tmp_path / f"sub{i}", seed=i, name=name)
        run = tmp_path / f"run{i}"
        said = ok("score", str(sub), "--store", db, "--images", str(tmp_path / "photos"), "--out", str(run),
                  "--device", "cpu", "--n-boot", "200")
        assert ("(per rater | vs fusion | dermatologists, like-for-like | floor: ones | floor: gaussian | "
                "floor: zeros):") in said
        ok("leaderboard", "add", str(run), "--dir", str(lb))
    report = validate(lb)
    assert sorted(report.rechecked) == sorted(names)
    assert all(len(s.overlays) > 0 for s in report.entries)
    md = publish(lb, "md", None, n_boot=200)
    assert HUMAN_NAME in md and "&lt;b&gt;tiny&lt;/b&gt; B &amp; co\\_1" in md
    _check_latex(publish(lb, "latex", None, n_boot=200))
    rows = list(csv.DictReader(io.StringIO(publish(lb, "csv", None, n_boot=200))))
    assert {r["name"] for r in rows} == {*REFS, *names}
    site = Path(publish(lb, "html", tmp_path / "site", n_boot=200))
    assert len(list(site.glob("entries/*/overlays/*.png"))) == sum(len(s.overlays) for s in report.entries)

    edit_entry(tmp_path / "run0", lambda d: d["localisation"]["union"]["per_rater"]["f1"].update(
        mean=d["localisation"]["union"]["per_rater"]["f1"]["mean"] + 0.05))
    r = runner.invoke(main, ["leaderboard", "add", str(tmp_path / "run0"), "--dir", str(lb), "--replace"])
    assert r.exit_code == 1 and "edited by hand" in r.output
