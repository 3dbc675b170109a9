"""The README's main command: the demo runs offline end to end and ranks the honest model first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.leaderboard.board import FLOOR_PREFIX, HUMAN_NAME, PAIRWISE_NAME
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
    # both models shown beside the dermatologists (like for like, rater to rater) and the floors
    main_rows = [line.split(" | ") for line in table.split("## F1 per characteristic")[0].splitlines()
                 if line.startswith("| ")]
    col = main_rows[0].index("Union F1 [95% CI]")
    union_f1 = {cells[1]: float(cells[col].split()[0]) for cells in main_rows[1:]}
    floors = {n: union_f1[f"{FLOOR_PREFIX}{n}"] for n in ("ones", "gaussian", "zeros")}
    assert list(union_f1)[:2] == [HUMAN_NAME, PAIRWISE_NAME]
    assert union_f1[HUMAN_NAME] > union_f1[HONEST] > max(floors.values())  # the honest model beats every floor
    assert union_f1[SHORTCUT] < union_f1[HONEST]
    assert "## F1 per characteristic" in table and "## Sensitivity / specificity per characteristic" in table
    assert (out / "site" / "index.html").is_file()
    assert (out / MARKER_FILE).is_file()
    # issue 10: the honest model beats the shortcut image by image, with its strata and sanity checks
    u = d["comparison_union_f1"]
    assert u["difference"] > 0 and u["ci_low"] > 0 and u["wilcoxon_p"] < 0.05
    assert d["sanity_passed"][HONEST] is True
    assert (out / "analyses" / "compare.md").is_file() and "## f1" in d["comparison_md"]
    assert "## f1 by skin_tone" in d["strata_md"] and "## f1 by correct" in d["strata_md"]
    assert any((out / "site" / "compare").glob("*.html"))
    honest_page = next(p for p in (out / "site" / "entries").glob("*/index.html") if "honest" in p.parent.name)
    assert "Sanity check" in honest_page.read_text() and "one more dermatologist" in honest_page.read_text()


def test_demo_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path)])
    assert res.exit_code == 1
    assert "was not made by the demo" in res.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_demo_model_swapped_for_a_vit_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``arch="test_vit"`` trains a ViT that loads without code, explained at its last block's norm1."""
    from dermx_bench.harness.submission import load_submission
    from dermx_bench.synthetic import demo
    from dermx_bench.synthetic.train import train_synthetic_submission

    sub, acc = train_synthetic_submission(tmp_path / "vit", arch="test_vit", n_train=12, epochs=1)
    loaded = load_submission(sub)
    assert loaded.config.model == "test_vit" and loaded.target_layer == "blocks.5.norm1"
    assert loaded.layout is not None and loaded.layout.kind == "tokens" and 0.0 <= acc <= 1.0
    assert demo.model_names("test_vit") == ("Lesion-aware test vit (honest)", "Marker-shortcut test vit")
    seen: dict[str, object] = {}

    def fake_run_demo(out: str, **kwargs: object) -> object:
        seen.update(kwargs)
        raise demo.InputError(out, "", "stopped by the test")

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--arch", "test_vit"])
    assert res.exit_code == 1 and seen["arch"] == "test_vit"
