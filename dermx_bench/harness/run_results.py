"""A run's final files: ``scores.csv``, ``predictions.csv``, ``entry.json``, ``summary.json``/``.md``.

The figures are computed from the run's ``scores.csv`` with the rules of the current
figures version (:data:`dermx_bench.stats.figures.FIGURES_VERSION`), the very rules the
leaderboard re-checks the entry with.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench import __version__
from dermx_bench.core.files import json_document, write_atomic
from dermx_bench.core.names import PREDICTION_COLUMNS, PROBABILITY_PREFIX, SCORE_COLUMNS
from dermx_bench.harness.run_plan import Plan, ScoreOptions
from dermx_bench.harness.run_report import render_markdown
from dermx_bench.harness.run_state import MAPS_PART_BIN, MAPS_PART_CSV, PARTIAL, RunState
from dermx_bench.harness.saved_maps import MAP_COLUMNS, MAPS_BIN, MAPS_CSV
from dermx_bench.results.analyses import AsDermatologist
from dermx_bench.results.baseline import SavedBaseline
from dermx_bench.results.entry import (
    SCHEMA_VERSION,
    Bootstrap,
    Entry,
    RunFiles,
    StoreRef,
    Submission,
    Versions,
    dump_entry,
    entry_digest,
    parse_entry,
)
from dermx_bench.results.figures import Diagnosis, ImageScores, Localisation
from dermx_bench.results.run import (
    AllZeroMaps,
    ConstantMaps,
    ExcludedImages,
    RunSummary,
    SkippedPhotographs,
)

if TYPE_CHECKING:
    import pandas as pd


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"non-finite value {f} in a results row")
        return repr(f)
    return str(v)


def csv_lines(rows: Sequence[Sequence[Any]]) -> bytes:
    """CSV rows as UTF-8 bytes: floats as ``repr``, booleans as true/false, None as empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    return buf.getvalue().encode("utf-8")


def versions() -> Versions:
    """Versions recorded in the entry."""
    from importlib.metadata import PackageNotFoundError, version

    import timm
    import torch

    try:
        gc = version("grad-cam")
    except PackageNotFoundError:
        gc = "unknown"
    return Versions(dermx_bench=__version__, torch=str(torch.__version__), timm=str(timm.__version__),
                    grad_cam=gc, python=platform.python_version())


def build_entry(
    plan: Plan, opts: ScoreOptions, localisation: dict[str, Localisation],
    per_image_union: dict[str, ImageScores], diagnosis: Diagnosis, n_images: int, n_all_zero: int,
    started_at: str, run_files: RunFiles, n_constant: int = 0,
) -> Entry:
    """The leaderboard entry of a run (schema :mod:`dermx_bench.results.entry`), without its digest."""
    from dermx_bench.stats.figures import FIGURES_VERSION, figure_rules

    lm = plan.loaded
    return Entry(
        schema_version=SCHEMA_VERSION,
        figures_version=FIGURES_VERSION,
        compared_with=figure_rules(FIGURES_VERSION).reference,
        name=opts.entry_name or lm.config.name,
        authors=lm.config.authors,
        description=lm.config.description,
        submission=Submission.model_validate(lm.submission_fields()),
        weights_sha256=lm.weights_sha256,
        store=StoreRef(content_hash=plan.store_hash,
                       baseline_options={str(k): str(v) for k, v in plan.baseline.options.items()}),
        method=opts.method_label(),
        target=opts.target,  # type: ignore[arg-type]
        versions=versions(),
        date=started_at,
        bootstrap=Bootstrap(n=opts.n_boot, seed=opts.seed),
        n_images=n_images,
        n_reference_images=plan.n_reference_images,
        n_all_zero_maps=n_all_zero,
        n_constant_maps=n_constant,
        localisation=localisation,
        per_image_union=per_image_union,
        diagnosis=diagnosis,
        human_baseline=plan.baseline.human(),
        run_files=run_files,
    )


def with_digest(entry: Entry) -> str:
    """The text of ``entry.json``: the entry with its ``digest`` (see :func:`entry_digest`)."""
    data = json.loads(entry.document())
    data["digest"] = entry_digest(data)
    parse_entry(data)  # what the leaderboard will read
    return dump_entry(data)


def overlay_stem(name: str) -> str:
    """A file-name-safe form of an image name (a short hash keeps altered names distinct)."""
    keep = "".join(c if (c.isascii() and (c.isalnum() or c in "-_.")) else "_" for c in name).strip(".")
    if keep != name or not keep:
        keep = f"{keep[:80] or 'image'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return keep


def _all_zero(preds: pd.DataFrame, scores: pd.DataFrame, characteristics: Sequence[str]) -> AllZeroMaps:
    images = sorted(preds.loc[preds["all_zero"].astype(bool), "image"].astype(str))
    by_char = {
        str(ch): int(g.drop_duplicates("image")["all_zero"].astype(bool).sum())
        for ch, g in scores.groupby("characteristic", sort=False)
    }
    return AllZeroMaps(n=len(images), images=images,
                       by_characteristic={k: by_char.get(k, 0) for k in characteristics})


def placed_among_raters(localisation: dict[str, Localisation], baseline: SavedBaseline) -> list[AsDermatologist]:
    """The model as one more dermatologist, F1 against the fusion (issue 10), per characteristic."""
    from dermx_bench.stats.equivalence import as_dermatologist

    raters = {ch: {r: ms.f1.mean for r, ms in by.items()} for ch, by in (baseline.like_for_like_raters or {}).items()}
    return as_dermatologist({ch: loc.fusion.f1 for ch, loc in localisation.items()},
                            {ch: loc.fusion.f1 for ch, loc in baseline.like_for_like.items()}, raters)


def finalise(out: Path, plan: Plan, opts: ScoreOptions, state: RunState) -> RunSummary:
    """Write the final files from the partial ones and return the run's summary."""
    import pandas as pd

    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.images import problem_counts
    from dermx_bench.stats.aggregate import with_baseline
    from dermx_bench.stats.figures import FIGURES_VERSION, figure_rules

    part = out / PARTIAL
    scores_csv = csv_lines([SCORE_COLUMNS]) + (part / "scores.part.csv").read_bytes()
    lm = plan.loaded
    probability_columns = [f"{PROBABILITY_PREFIX}{c}" for c in lm.diagnosis_indices]
    preds_csv = csv_lines([[*PREDICTION_COLUMNS, *probability_columns]]) + (part / "predictions.part.csv").read_bytes()
    write_atomic(out / "scores.csv", scores_csv)
    write_atomic(out / "predictions.csv", preds_csv)
    write_atomic(out / MAPS_CSV, csv_lines([MAP_COLUMNS]) + (part / MAPS_PART_CSV).read_bytes())
    os.replace(part / MAPS_PART_BIN, out / MAPS_BIN)
    scores = pd.read_csv(out / "scores.csv")
    preds = pd.read_csv(out / "predictions.csv", keep_default_na=False, dtype={"gold": str})
    onto = load_ontology()
    rules = figure_rules(FIGURES_VERSION)
    localisation = with_baseline(rules.localisation(scores, opts.seed, opts.n_boot, onto.order),
                                 rules.reference_stats(plan.baseline.human()))
    diagnosis = rules.diagnosis(preds, lm.classes, onto.order)
    all_zero = _all_zero(preds, scores, list(localisation))
    constant = ConstantMaps(n=0, images=sorted(preds.loc[preds["constant"].astype(bool), "image"].astype(str)))
    constant = constant.model_copy(update={"n": len(constant.images)})
    n_images = len(preds)
    run_files = RunFiles(scores_sha256=hashlib.sha256(scores_csv).hexdigest(),
                         predictions_sha256=hashlib.sha256(preds_csv).hexdigest())
    entry = build_entry(plan, opts, localisation, rules.per_image_union(scores), diagnosis, n_images,
                        all_zero.n, str(state["started_at"]), run_files, constant.n)
    summary = RunSummary(
        name=opts.entry_name or lm.config.name,
        submission=entry.submission,
        weights_sha256=lm.weights_sha256,
        store_hash=plan.store_hash,
        method=opts.method_label(),
        target=opts.target,
        device=plan.device,
        memory_format=state.get("memory_format"),
        batch_size=opts.batch_size,
        started_at=state["started_at"],
        n_images=n_images,
        n_reference_images=plan.n_reference_images,
        n_score_rows=len(scores),
        all_zero_maps=all_zero,
        constant_maps=constant,
        skipped_photographs=SkippedPhotographs(n=len(plan.skipped), by_problem=problem_counts(plan.skipped),
                                               images=plan.skipped),
        excluded_images=ExcludedImages(n=len(plan.excluded), images=plan.excluded),
        images_without_gold=int((preds["gold"] == "").sum()),
        bootstrap=entry.bootstrap,
        localisation=localisation,
        diagnosis=diagnosis,
        human_baseline=entry.human_baseline,
        overlays=[f"overlays/{overlay_stem(n)}.png" for n in plan.overlay_images],
        figures_version=entry.figures,
        compared_with=entry.reference,
        limit=opts.limit,
        as_dermatologist=placed_among_raters(localisation, plan.baseline),
    )
    write_atomic(out / "entry.json", with_digest(entry).encode("utf-8"))
    write_atomic(out / "summary.json", json_document(summary.model_dump()).encode("utf-8"))
    write_atomic(out / "summary.md", render_markdown(summary).encode("utf-8"))
    return summary
