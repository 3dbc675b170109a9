"""Rescoring a run from its saved maps, without the model (``dermx-bench rescore``).

:func:`rescore` reads a run's maps (:mod:`~dermx_bench.harness.saved_maps`), upsamples each
exactly as the run did and scores it with the one scorer
(:func:`~dermx_bench.consensus.map_scores.score_map`), with a chosen fusion rule, a chosen
set of metrics and, optionally, only the images whose raters agree (per-image Fleiss kappa
over characteristics at least ``min_kappa``, Singh et al.). Beside every figure it puts
the like-for-like human reference and the trivial-map floors (METHODS §8) computed on the
same images with the same fusion rule. It writes into ``out``:

``scores.csv``
    as the run's, with the chosen metrics' columns only; with the run's options (every
    metric, the default fusion, no kappa filter) byte-identical to the run's own;
``summary.json`` / ``summary.md``
    the figures per characteristic (:class:`~dermx_bench.results.run.RescoreSummary`).

Every output is a function of the run's maps, the store and the options: the same call
gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dermx_bench.core.errors import InputError, StoreError
from dermx_bench.core.files import json_document, write_atomic
from dermx_bench.core.names import (
    ALL_METRIC_NAMES,
    SALIENCY_METRIC_NAMES,
    SCORE_COLUMNS,
    THRESHOLD_METRICS,
    THRESHOLD_SUFFIX,
)
from dermx_bench.results.figures import LocalisationScores, Stat
from dermx_bench.results.run import (
    ConstantMaps,
    ExcludedImages,
    RescoreFigures,
    RescoreSummary,
    RunSummary,
)

if TYPE_CHECKING:
    from dermx_bench.consensus.references import ImageReference

SCORES = "scores.csv"


def metric_columns(metrics: Sequence[str]) -> list[str]:
    """The ``scores.csv`` columns of a rescore with ``metrics``: the run's columns without
    the metrics (and thresholds) not chosen."""
    dropped = {m for m in ALL_METRIC_NAMES if m not in metrics}
    dropped |= {f"{m}{THRESHOLD_SUFFIX}" for m in THRESHOLD_METRICS if m in dropped}
    return [c for c in SCORE_COLUMNS if c not in dropped]


def check_metrics(metrics: Sequence[str] | None) -> list[str]:
    """The chosen metrics in report order (all when None or empty); InputError naming ``--metric``."""
    if not metrics:
        return list(ALL_METRIC_NAMES)
    unknown = [m for m in metrics if m not in ALL_METRIC_NAMES]
    if unknown:
        raise InputError("--metric", "", f"unknown metric {unknown[0]!r}; choose from {', '.join(ALL_METRIC_NAMES)}")
    return [m for m in ALL_METRIC_NAMES if m in metrics]


def _figures(block: LocalisationScores | None, metrics: Sequence[str], against: str) -> dict[str, Stat | None]:
    stats = None if block is None else getattr(block, against)
    return {m: (None if stats is None else getattr(stats, m)) for m in metrics}


def _run_summary(run: Path) -> RunSummary:
    path = run / "summary.json"
    if not path.is_file():
        raise InputError(run, "", "not a finished run (no summary.json); finish it with 'dermx-bench score --resume'")
    return RunSummary.model_validate_json(path.read_bytes())


def rescore(
    run: str | Path, store_path: str | Path, out: str | Path, *, metrics: Sequence[str] | None = None,
    fusion: str | None = None, min_kappa: float | None = None, on_image: Callable[[], None] | None = None,
) -> RescoreSummary:
    """Rescore ``run`` against ``store_path`` into ``out`` (see the module docstring).

    ``metrics``: the metrics to report (all when None); ``fusion``: the fusion rule of the
    ``fusion:`` rows and of the reference's leave-one-out fusion (default: the run's,
    ``fuzzy``); ``min_kappa``: leave out images whose :func:`~dermx_bench.consensus.fleiss.image_kappa`
    is below it or undefined (how many, and which, is reported). ``on_image`` is called
    once per image scored (progress). InputError/StoreError when the run has no maps or
    the store is not the one the run was scored against.
    """
    import pandas as pd

    from dermx_bench.consensus.fleiss import image_kappa
    from dermx_bench.consensus.floors import floor_scores, get_floor
    from dermx_bench.consensus.fusion import DEFAULT_RULE, get_fusion_rule
    from dermx_bench.consensus.human_reference import seat_scores
    from dermx_bench.consensus.map_scores import score_map
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.images import upsample_map
    from dermx_bench.harness.run_plan import read_store
    from dermx_bench.harness.run_results import csv_lines
    from dermx_bench.harness.saved_maps import iter_grids, read_index
    from dermx_bench.stats.aggregate import aggregate_scores, seated_scores

    run, out = Path(run), Path(out)
    chosen = check_metrics(metrics)
    rule = fusion or DEFAULT_RULE
    get_fusion_rule(rule)
    if min_kappa is not None and not -1.0 <= min_kappa <= 1.0:
        raise InputError("--min-kappa", "", f"must lie in [-1, 1], got {min_kappa}")
    if out.resolve() == run.resolve():
        raise InputError("--out", "", "must not be the run's own folder (its scores.csv would be replaced)")
    summary = _run_summary(run)
    index = read_index(run)
    onto = load_ontology()
    _, store_hash, refs, _ = read_store(store_path, onto)
    if store_hash != summary.store_hash:
        raise StoreError(f"{store_path}: not the store contents the run was scored against (content hash "
                         f"{store_hash[:12]}..., the run's {summary.store_hash[:12]}...)")
    by_name = {r.image: r for r in refs}
    missing = [m.image for m in index if m.image not in by_name]
    if missing:
        raise StoreError(f"{store_path}: has no reference for {len(missing)} image(s) of the run, e.g. {missing[0]!r}")
    excluded: dict[str, str] = {}
    saliency = any(m in SALIENCY_METRIC_NAMES for m in chosen)
    rows: list[tuple[object, ...]] = []
    kept: list[ImageReference] = []
    constant: list[str] = []
    for m, grid in iter_grids(run, index):
        ref = by_name[m.image]
        if min_kappa is not None:
            kappa = image_kappa(ref)
            if kappa is None or kappa < min_kappa:
                excluded[m.image] = ("Fleiss kappa undefined (fewer than two raters or nothing drawn)"
                                     if kappa is None else f"Fleiss kappa {kappa:.4f} < {min_kappa:g}")
                continue
        full = upsample_map(grid, m.geometry)
        if full.max() == full.min():
            constant.append(m.image)
        kept.append(ref)
        rows += [tuple(getattr(r, c) for c in SCORE_COLUMNS) for r in score_map(ref, full, rule, saliency=saliency)]
        if on_image is not None:
            on_image()
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    columns = metric_columns(chosen)
    at = [SCORE_COLUMNS.index(c) for c in columns]
    scores_csv = csv_lines([columns]) + csv_lines([[r[i] for i in at] for r in rows])
    seed, n_boot = summary.bootstrap.seed, summary.bootstrap.n
    computed = list(ALL_METRIC_NAMES) if saliency else [m for m in ALL_METRIC_NAMES if m not in SALIENCY_METRIC_NAMES]
    model = aggregate_scores(frame, seed, n_boot, onto.order, metrics=computed) if len(frame) else {}
    seats = seat_scores(kept, rule)
    reference = seated_scores(seats, seed, n_boot, onto.order, metrics=computed) if len(seats) else {}
    floors_detail = floor_scores(kept, fusion_rule=rule)
    floors = {str(name): aggregate_scores(g, seed, n_boot, onto.order, metrics=computed)
              for name, g in floors_detail.groupby("floor", sort=False)} if len(floors_detail) else {}
    localisation = {
        c: RescoreFigures(
            n_images=block.n_images,
            per_rater=_figures(block, chosen, "per_rater"),
            fusion=_figures(block, chosen, "fusion"),
            reference=_figures(reference.get(c), chosen, "per_rater"),
            reference_fusion=_figures(reference.get(c), chosen, "fusion"),
            floors={f: _figures(figs.get(c), chosen, "per_rater") for f, figs in floors.items()},
        )
        for c, block in model.items()
    }
    result = RescoreSummary(
        name=summary.name, method=summary.method, store_hash=store_hash, fusion=rule, metrics=chosen,
        min_kappa=min_kappa, n_images=len(kept), excluded_by_kappa=ExcludedImages(n=len(excluded), images=excluded),
        constant_maps=ConstantMaps(n=len(constant), images=sorted(constant)), bootstrap=summary.bootstrap,
        floors={f: get_floor(f).description for f in floors}, localisation=localisation,
    )
    write_atomic(out / SCORES, scores_csv)
    write_atomic(out / "summary.json", json_document(result.model_dump()))
    write_atomic(out / "summary.md", render_rescore(result))
    return result


def _fmt(s: Stat | None) -> str:
    return "–" if s is None or s.mean is None else f"{s.mean:.3f}"


def render_rescore(result: RescoreSummary) -> str:
    """The rescore's figures as Markdown: per metric, one table of characteristics with the
    model (per rater and against the fusion), the like-for-like reference and each floor."""
    kappa = "" if result.min_kappa is None else (
        f"; images with Fleiss kappa >= {result.min_kappa:g} ({result.excluded_by_kappa.n} excluded)")
    lines = [f"# {result.name}: rescored", "",
             f"{result.method}; {result.n_images} images; fusion {result.fusion}{kappa}; "
             f"{result.constant_maps.n} constant map(s).", ""]
    floors = list(result.floors)
    for m in result.metrics:
        lines += [f"## {m}", "",
                  "| characteristic | per rater | like-for-like | fusion | reference vs fusion | "
                  + " | ".join(f"floor {f}" for f in floors) + " |",
                  "|---" * (5 + len(floors)) + "|"]
        for c, fig in result.localisation.items():
            cells = [c, _fmt(fig.per_rater[m]), _fmt(fig.reference[m]), _fmt(fig.fusion[m]),
                     _fmt(fig.reference_fusion[m]), *(_fmt(fig.floors[f][m]) for f in floors)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
