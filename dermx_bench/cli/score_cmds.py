"""Commands: ``score`` (a submission's explanation maps against the dermatologists) and ``synth-images``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from dermx_bench.cli.common import emit_json, json_option, progress, set_total, store_option
from dermx_bench.core.names import ALL_METRIC_NAMES, UNION
from dermx_bench.harness.explainers import DEFAULT_METHOD, describe, get_explainer, list_explainers

if TYPE_CHECKING:
    from dermx_bench.results.figures import Stat

_FLAG_OPTIONS = {"ig_steps": "steps", "n_samples": "n_samples", "sigma": "sigma", "explainer_seed": "seed"}
_IG = get_explainer("integrated-gradients").defaults()
_SG = get_explainer("smoothgrad").defaults()
_SHAP = get_explainer("kernel-shap").defaults()


def _methods_epilog() -> str:
    """Every registered method with its conventions, options and cost (from the registry)."""
    lines = ["\b", "Methods (--method NAME; options with --method-option KEY=VALUE or the flags above):"]
    for name in list_explainers():
        lines += ["\b", *(f"  {line}" for line in _wrap(describe(name), 96))]
    lines += ["\b", "A CPU run whose time, estimated from its first batch, exceeds one hour stops "
              "there unless --allow-slow.", "Conventions: docs/explainers.md."]
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent="    ")


def _method_options(pairs: tuple[str, ...], flags: dict[str, Any]) -> dict[str, Any]:
    """--method-option KEY=VALUE pairs and the dedicated flags that were given, as one mapping."""
    from dermx_bench.core.errors import InputError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--method-option", pair, "expected KEY=VALUE, e.g. steps=100")
        out[key.strip()] = value.strip()
    for flag, key in _FLAG_OPTIONS.items():
        if flags.get(flag) is not None:
            out[key] = flags[flag]
    return out


@click.command("score", epilog=_methods_epilog())
@click.argument("submission", type=click.Path(file_okay=True, dir_okay=True))
@store_option
@click.option("--images", "images_dir", required=True, type=click.Path(file_okay=False),
              help="Folder of the photographs, matched to the store's images by file stem.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder to write (must be new or empty, unless --resume).")
@click.option("--method", default=DEFAULT_METHOD, show_default=True, metavar="NAME",
              help=f"Explanation method: {', '.join(list_explainers())} (details below).")
@click.option("--ig-steps", type=click.IntRange(min=1), default=None,
              help=f"Integration steps of integrated-gradients (default {_IG['steps']}) and of smoothgrad's IG base.")
@click.option("--n-samples", type=click.IntRange(min=1), default=None,
              help=f"Noisy copies (smoothgrad, default {_SG['n_samples']}) or coalitions (kernel-shap, default "
                   f"{_SHAP['n_samples']}) per image.")
@click.option("--sigma", type=click.FloatRange(min=0), default=None,
              help=f"smoothgrad noise standard deviation in [0, 1] pixel units (default {_SG['sigma']}).")
@click.option("--explainer-seed", type=click.IntRange(min=0), default=None,
              help=f"Seed of smoothgrad's noise / kernel-shap's coalitions (default {_SG['seed']}).")
@click.option("--method-option", "method_option", multiple=True, metavar="KEY=VALUE",
              help="Any option of the method (repeatable), e.g. --method-option n_segments=100.")
@click.option("--allow-slow", is_flag=True,
              help="Run on a CPU even when the estimated time exceeds one hour.")
@click.option("--target", default="gold", show_default=True, type=click.Choice(["gold", "predicted"]),
              help="Explain the gold diagnosis or the model's predicted one.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]),
              help="Where the model runs (auto: cuda when available).")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--memory-format", default="auto", show_default=True,
              type=click.Choice(["auto", "channels_last", "contiguous"]),
              help="Tensor layout (auto: channels_last when the model gives the same outputs with it; faster).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16"]),
              help="bf16: autocast the model (CAM methods; ~4x faster on CPUs with AMX, maps r >= 0.999 with fp32). "
                   "Recorded in the method label.")
@click.option("--resume", is_flag=True, help="Finish an interrupted run in --out (same inputs and options).")
@click.option("--cluster", default=None, metavar="ADDRESS|local:N",
              help="Score the batches on a Dask cluster: a scheduler address (tcp://host:8786; workers must see "
                   "the same paths) or local:N worker processes. Same files as without.")
@click.option("--trust-code", is_flag=True,
              help="Allow a submission's entry_point to run Python code from its folder.")
@click.option("--skip-missing", is_flag=True,
              help="Score the images whose photographs are usable and report how many were skipped.")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples for the 95% intervals.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Bootstrap seed.")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="Score only N images first (a deterministic subset covering every diagnosis), for a quick "
                   "look; the run is marked partial everywhere (summary, entry coverage, leaderboard).")
@click.option("--overlays", "n_overlays", default=6, show_default=True, type=click.IntRange(min=0),
              help="How many overlay figures to draw (one image per diagnosis first).")
@json_option
def score(
    submission: str, store_path: str, images_dir: str, out_dir: str, method: str, ig_steps: int | None,
    n_samples: int | None, sigma: float | None, explainer_seed: int | None, method_option: tuple[str, ...],
    allow_slow: bool, target: str, device: str, batch_size: int, memory_format: str, precision: str,
    resume: bool, cluster: str | None, trust_code: bool, skip_missing: bool, n_boot: int, seed: int,
    limit: int | None, n_overlays: int, as_json: bool,
) -> None:
    """Score SUBMISSION's explanation maps against the DermX dermatologists.

    SUBMISSION is a folder with submission.toml (or .json) and its weights. Everything
    (submission, store and saved inter-rater baseline, photographs, output folder) is
    checked before any model work. The run folder gets scores.csv, predictions.csv,
    summary.json, summary.md, entry.json and overlays/. An interrupted run is finished
    with --resume; the result is identical to an uninterrupted run.

    \b
    Example:
      dermx-bench score my_model/ --store dermx.db --images photos/ --out runs/my_model
    """
    from dermx_bench.harness.run import ScoreOptions, score_run
    from dermx_bench.harness.run_report import partial_note

    flags = {"ig_steps": ig_steps, "n_samples": n_samples, "sigma": sigma, "explainer_seed": explainer_seed}
    opts = ScoreOptions(method=method, target=target, device=device, batch_size=batch_size,
                        skip_missing=skip_missing, trust_code=trust_code, n_boot=n_boot, seed=seed,
                        n_overlays=n_overlays, memory_format=memory_format,
                        method_options=_method_options(method_option, flags), allow_slow=allow_slow,
                        limit=limit, precision=precision)
    bar: Any = None
    t0 = time.perf_counter()
    counted = {"n": 0}

    def on_plan(total: int, done: int) -> None:
        nonlocal bar
        bar = progress(total, "scoring images")
        bar.update(done)

    def on_batch(n: int) -> None:
        counted["n"] += n
        if bar is not None:
            bar.update(n)

    def on_estimate(estimate: Any) -> None:
        click.echo(f"Estimated: {estimate.describe()}", err=True)

    try:
        summary = score_run(submission, store_path, images_dir, out_dir, opts, resume=resume,
                            on_batch=on_batch, on_plan=on_plan, on_estimate=on_estimate,
                            cluster=cluster)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    if as_json:
        emit_json({"out": out_dir, "seconds": round(elapsed, 2), "images_this_call": counted["n"],
                   "summary": summary.model_dump()})
        return
    click.echo(f"Scored {summary.n_images} of {summary.n_reference_images} images with a reference with "
               f"{summary.method} ({summary.target} target) in {elapsed:.1f} s -> {out_dir}")
    if (note := partial_note(summary)) is not None:
        click.echo(note)
    skipped = summary.skipped_photographs
    if skipped.n:
        click.echo(f"Skipped {skipped.n} image(s) whose photographs are not usable "
                   f"({', '.join(f'{v} {k}' for k, v in skipped.by_problem.items())})")
    if summary.excluded_images.n:
        click.echo(f"Excluded {summary.excluded_images.n} image(s) without a gold diagnosis among the "
                   "model's classes")
    click.echo(f"All-zero maps: {summary.all_zero_maps.n}"
               + ("" if summary.constant_maps is None else f"; constant maps: {summary.constant_maps.n}"))
    union = summary.localisation.get(UNION)
    if union:
        def cell(s: Stat | None) -> str:
            return "–" if s is None or s.mean is None else f"{s.mean:.3f}"

        floors = summary.human_baseline.floors or {}
        click.echo(f"Union of characteristics (per rater | vs fusion | dermatologists, {summary.compared_with}"
                   + "".join(f" | floor: {name}" for name in floors) + "):")
        for m in ALL_METRIC_NAMES:
            if getattr(union.per_rater, m) is None:
                continue
            click.echo(f"  {m:<14} {cell(getattr(union.per_rater, m))} | {cell(getattr(union.fusion, m))} | "
                       f"{cell(getattr(union.baseline, m))}"
                       + "".join(f" | {cell(getattr(f.localisation[UNION].per_rater, m))}"
                                 if UNION in f.localisation else " | \u2013" for f in floors.values()))
    dx = summary.diagnosis
    click.echo(f"Diagnosis: accuracy {dx.accuracy:.3f}, macro F1 {dx.macro_f1:.3f}"
               + ("" if dx.macro_auroc is None else f", macro AUROC {dx.macro_auroc:.3f}"))
    click.echo(f"Details: {out_dir}/summary.md")


@click.command("synth-images")
@store_option
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--marker", is_flag=True, help="Add a spurious marker whose place and colour encode the diagnosis.")
@click.option("--format", "fmt", default="png", show_default=True, type=click.Choice(["png", "jpeg"]),
              help="png (lossless, fast zlib level) or jpeg (quality 92; ~5x smaller and faster to write).")
@click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the first N images in the store's order (by name): a quick, deterministic subset.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes painting in parallel [default: every CPU for large sets]. Same files for any N.")
@json_option
def synth_images(store_path: str, outdir: str, seed: int, marker: bool, fmt: str, limit: int | None,
                 workers: int | None, as_json: bool) -> None:
    """Write synthetic photographs for the store's images into OUTDIR.

    Skin-toned background at each image's annotated size, lesion-like texture (by gold
    diagnosis) inside the union of the counting dermatologists' masks, and with
    --marker a spurious marker correlated with the diagnosis. Lets the harness run end
    to end without the real photographs.
    """
    from dermx_bench.synthetic.images import write_store_images

    with progress(None, "synthetic photographs") as bar:
        report = write_store_images(store_path, outdir, seed=seed, marker=marker, fmt=fmt, limit=limit,
                                    workers=workers, on_image=lambda: bar.update(1), on_total=set_total(bar))
    if as_json:
        emit_json(report.as_dict())
        return
    click.echo(f"Wrote {report.written} photographs to {outdir} ({report.with_lesions} with lesions"
               f"{f', {report.with_marker} with a marker' if marker else ''}; seed {seed})")


COMMANDS: list[click.Command] = [score, synth_images]
