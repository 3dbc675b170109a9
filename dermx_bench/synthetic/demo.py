"""The whole toolkit end to end on synthetic data, offline: ``dermx-bench demo``.

1. simulate a DermX-like dataset: synthetic images, three raters' Darwin files
   (disagreeing the way real raters do) and a metadata CSV;
2. ingest it into a store and save the inter-rater baselines;
3. paint synthetic photographs (lesions inside the raters' outlines, plus a marker
   whose colour follows the diagnosis: a spurious cue);
4. train two small models (``test_resnet``, or any timm classifier by name, e.g.
   ``arch="test_vit"``): one that sees lesions, one that learnt the marker;
5. score both with Grad-CAM against the raters;
6. analyse: compare the two runs image by image, stratify each by correct prediction, skin
   tone and age, and run the model randomisation test of both submissions;
7. add both runs (with their sanity checks) to a leaderboard and publish it as Markdown and a
   static site (with the comparison and strata pages).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import UNION

#: The file that marks a folder as made by the demo (so a re-run may replace it).
MARKER_FILE = ".dermx-bench-demo"

HONEST = "Lesion-aware CNN (honest)"
SHORTCUT = "Marker-shortcut CNN"


def model_names(arch: str) -> tuple[str, str]:
    """(honest, shortcut) entry names: :data:`HONEST`/:data:`SHORTCUT` for the default architecture."""
    from dermx_bench.synthetic.train import DEFAULT_ARCH

    if arch == DEFAULT_ARCH:
        return HONEST, SHORTCUT
    shown = arch.replace("_", " ")  # Markdown tables escape underscores
    return f"Lesion-aware {shown} (honest)", f"Marker-shortcut {shown}"


@dataclass
class DemoResult:
    """Where the demo put things, how long each step took and the published table."""

    out: Path
    table_md: str
    ranking: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    accuracies: dict[str, float] = field(default_factory=dict)
    table_text: str = ""
    """The same leaderboard as plain text, for a terminal."""
    comparison_md: str = ""
    strata_md: str = ""
    union_f1: dict[str, float | None] = field(default_factory=dict)
    sanity_passed: dict[str, bool] = field(default_factory=dict)

    def paths(self) -> dict[str, str]:
        return {
            "store": str(self.out / "dermx-demo.db"),
            "annotations": str(self.out / "data" / "annotations"),
            "photos": str(self.out / "photos"),
            "runs": str(self.out / "runs"),
            "leaderboard": str(self.out / "leaderboard" / "README.md"),
            "site": str(self.out / "site" / "index.html"),
            "analyses": str(self.out / "analyses"),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "ranking": self.ranking, "paths": self.paths(),
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "accuracies": self.accuracies, "table_md": self.table_md,
                "comparison_union_f1": self.union_f1, "sanity_passed": self.sanity_passed,
                "comparison_md": self.comparison_md, "strata_md": self.strata_md}


def _fresh(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER_FILE).exists():
            raise InputError(out, "", "folder exists, is not empty and was not made by the demo; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER_FILE).write_text("made by dermx-bench demo; a re-run replaces this folder\n")


def run_demo(
    out: str | Path,
    *,
    n_images: int = 96,
    seed: int = 0,
    epochs: int = 5,
    n_train: int = 240,
    on_step: Callable[[str], None] | None = None,
    arch: str | None = None,
) -> DemoResult:
    """Run the demo into folder ``out`` (replaced if an earlier demo made it).

    ``arch``: the timm architecture of both models (default ``test_resnet``), e.g.
    ``"test_vit"`` to see the same story told by a vision transformer.
    """
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.harness.run import ScoreOptions, score_run
    from dermx_bench.leaderboard import add_run, publish
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.darwin import make_images, write_dataset
    from dermx_bench.synthetic.images import write_store_images
    from dermx_bench.synthetic.train import DEFAULT_ARCH, train_synthetic_submission

    root = Path(out)
    _fresh(root)
    seconds: dict[str, float] = {}
    started: dict[str, float] = {"dataset": time.perf_counter()}

    def step(name: str) -> None:
        """Close the timing of the current step and start ``name``."""
        now = time.perf_counter()
        last = list(started)[-1]
        seconds[last] = now - started[last]
        started[name] = now
        if on_step:
            on_step(name)

    if on_step:
        on_step("dataset")
    rng = np.random.default_rng(seed)
    images = make_images(n_images, rng, size=(120, 160))
    data = write_dataset(root / "data", images, ["rater1", "rater2", "rater3"], rng, v2_raters=("rater3",))
    store = root / "dermx-demo.db"

    step("ingest")
    ingest_sources(store, [data / "annotations"], metadata=data / "metadata.csv", release="demo")

    step("agreement")
    from dermx_bench.store.db import Store

    with Store.open(store, write=True) as s:
        save_baselines(s, datetime.now(UTC).isoformat(timespec="seconds"))

    step("photos")
    write_store_images(store, root / "photos", seed=seed, marker=True)

    step("training")
    accuracies: dict[str, float] = {}
    subs: dict[str, Path] = {}
    arch = arch or DEFAULT_ARCH
    for name, cue in zip(model_names(arch), ("lesions", "marker"), strict=True):
        sub, acc = train_synthetic_submission(
            root / "submissions" / cue, cue=cue, name=name, n_train=n_train, epochs=epochs, seed=seed, arch=arch,
        )
        subs[name], accuracies[name] = sub, acc

    step("scoring")
    runs = {}
    for name, sub in subs.items():
        runs[name] = root / "runs" / sub.name
        score_run(sub, store, root / "photos", runs[name], ScoreOptions(device="cpu", batch_size=16, seed=seed))

    step("analyses")
    found = _analyses(root, store, subs, runs, seed)

    step("leaderboard")
    lb = root / "leaderboard"
    for name, run in runs.items():
        add_run(run, lb, sanity=root / "analyses" / f"sanity-{subs[name].name}" / "sanity.json")

    step("publishing")
    table = publish(lb, "md", lb / "README.md")
    publish(lb, "html", root / "site")
    text = publish(lb, "text", None)
    step("done")
    seconds.pop("done", None)
    ranking = _ranking(table, list(subs))
    return DemoResult(root, table, ranking, seconds, accuracies, text, **found)


def _analyses(root: Path, store: Path, subs: dict[str, Path], runs: dict[str, Path], seed: int) -> dict[str, Any]:
    """The honest run against the shortcut one, each run by strata, and both sanity checks,
    written to ``root/analyses``; returns the :class:`DemoResult` fields they fill."""
    from dermx_bench.core.files import json_document, write_atomic
    from dermx_bench.harness.analyses import analyse_run, compare_runs, load_run
    from dermx_bench.harness.analysis_plots import strata_png
    from dermx_bench.harness.sanity import check_submission
    from dermx_bench.stats.analysis_tables import (
        comparison_markdown,
        sanity_markdown,
        strata_markdown,
    )

    out = root / "analyses"
    out.mkdir(parents=True, exist_ok=True)
    data = {name: load_run(run) for name, run in runs.items()}
    honest, shortcut = data.values()
    comparison = compare_runs(honest, shortcut, seed=seed)
    comparison_md = comparison_markdown(comparison)
    write_atomic(out / "compare.md", comparison_md.encode("utf-8"))
    write_atomic(out / "compare.json", json_document(comparison.model_dump()).encode("utf-8"))
    strata_md = ""
    for name, run in data.items():
        stem = subs[name].name
        strata = analyse_run(run, ["correct", "skin_tone", "age"], store=store, seed=seed)
        text = strata_markdown(strata, ["f1"])
        strata_md = strata_md or text
        write_atomic(out / f"strata-{stem}.md", strata_markdown(strata).encode("utf-8"))
        strata_png(strata, out / f"strata-{stem}.png")
    passed = {}
    for name, sub in subs.items():
        folder = out / f"sanity-{sub.name}"
        folder.mkdir(exist_ok=True)
        result = check_submission(sub, store, root / "photos", n_images=4, seed=seed, figure=folder / "sanity.png")
        write_atomic(folder / "sanity.json", json_document(result.model_dump()).encode("utf-8"))
        write_atomic(folder / "sanity.md", sanity_markdown(result).encode("utf-8"))
        passed[name] = result.passed
    union = next(r for r in comparison.rows if r.characteristic == UNION and r.metric == "f1")
    return {"comparison_md": comparison_md, "strata_md": strata_md, "sanity_passed": passed,
            "union_f1": {"difference": union.difference, "ci_low": union.ci_low, "ci_high": union.ci_high,
                         "wilcoxon_p": union.wilcoxon_p, "honest_wins": union.a_wins}}


def _ranking(table_md: str, names: list[str]) -> list[str]:
    """Entry names in the order the published table lists them."""
    found = sorted((table_md.find(n), n) for n in names if table_md.find(n) >= 0)
    return [n for _, n in found]
