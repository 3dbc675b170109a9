"""Commands: ``compare`` (two runs image by image), ``analyse`` (a run by strata), ``sanity``
(the model randomisation test)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dermx_bench.cli.common import emit_json, store_option
from dermx_bench.core.names import STRATA
from dermx_bench.harness.sanity import SSIM_THRESHOLD
from dermx_bench.results.analyses import PER_RATER, REFERENCE_KINDS
from dermx_bench.stats.estimators import COMPARE_N_BOOT
from dermx_bench.stats.strata import MIN_N

_REFERENCE = click.option(
    "--reference", type=click.Choice(REFERENCE_KINDS), default=PER_RATER, show_default=True,
    help="Per image: the mean over the raters who drew the characteristic, or the score against their fusion.")
_SEED = click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")


@click.command()
@click.argument("run_a", type=click.Path(exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True,
              help="Output on stdout: Markdown tables, CSV rows or JSON.")
@_REFERENCE
@click.option("--n-boot", default=COMPARE_N_BOOT, show_default=True, type=click.IntRange(min=1),
              help="Resamples of the paired image bootstrap.")
@_SEED
def compare(run_a: str, run_b: str, fmt: str, reference: str, n_boot: int, seed: int) -> None:
    """Compare two scored runs image by image (A − B) on the images both scored.

    For the union and each characteristic and every metric of scores.csv: mean difference,
    paired bootstrap 95% interval, Wilcoxon signed-rank p with Holm's correction across
    characteristics, and the share of images where A (B) scores higher. Both runs must
    have been scored on the same store and saved baseline.

    \b
    Example: dermx-bench compare runs/honest runs/shortcut --format md
    """
    from dermx_bench.harness.analyses import compare_runs, load_run
    from dermx_bench.harness.run_results import csv_lines
    from dermx_bench.stats.analysis_tables import comparison_markdown, comparison_rows

    result = compare_runs(load_run(run_a), load_run(run_b), reference=reference, seed=seed, n_boot=n_boot)
    if fmt == "json":
        emit_json(result.model_dump())
    elif fmt == "csv":
        sys.stdout.write(csv_lines(comparison_rows(result)).decode("utf-8"))
    else:
        click.echo(comparison_markdown(result))


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--by", "by", multiple=True, required=True,
              type=click.Choice(STRATA),
              help="Grouping of the images (repeat for several): gold disease, correct or wrong prediction, "
                   "or the store's skin tone / age.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, exists=True),
              help="The store the run was scored on (needed for skin_tone and age).")
@_REFERENCE
@click.option("--min-n", default=MIN_N, show_default=True, type=click.IntRange(min=1),
              help="Strata with fewer images are flagged (!) and warned about.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of the union's figures per stratum here.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
@click.option("--n-boot", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Resamples of each stratum's image bootstrap.")
@_SEED
def analyse(run: str, by: tuple[str, ...], store_path: str | None, reference: str, min_n: int, plot: str | None,
            as_json: bool, n_boot: int, seed: int) -> None:
    """A run's figures per stratum of images, with a test across strata (Kruskal-Wallis).

    Per stratum: n and every metric with its image-bootstrap 95% interval, for every
    characteristic and the union. Warns about strata under --min-n images.

    \b
    Example: dermx-bench analyse runs/honest --by correct --by skin_tone --store dermx.db --plot strata.png
    """
    from dermx_bench.harness.analyses import analyse_run, load_run
    from dermx_bench.stats.analysis_tables import strata_markdown

    result = analyse_run(load_run(run), list(dict.fromkeys(by)), store=store_path, reference=reference,
                         min_n=min_n, seed=seed, n_boot=n_boot)
    for w in result.warnings:
        click.echo(f"Warning: {w}", err=True)
    if plot:
        from dermx_bench.harness.analysis_plots import strata_png

        strata_png(result, Path(plot))
    if as_json:
        emit_json(result.model_dump())
    else:
        click.echo(strata_markdown(result))


@click.command()
@click.argument("submission", type=click.Path(exists=True))
@store_option
@click.option("--images", "images_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of the photographs.")
@click.option("--method", default="gradcam", show_default=True, help="Explanation method (see 'score --help').")
@click.option("--n-images", default=8, show_default=True, type=click.IntRange(min=1),
              help="Images (the first by name) whose maps are recomputed at every stage.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for sanity.json, sanity.md and sanity.png (the maps of a few images per stage).")
@click.option("--threshold", default=SSIM_THRESHOLD, show_default=True, type=click.FloatRange(0, 1),
              help="The check passes when the fully randomised maps' mean SSIM is below this.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--trust-code", is_flag=True, help="Allow running the submission's own Python module.")
@_SEED
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
def sanity(submission: str, store_path: str, images_dir: str, method: str, n_images: int, out: str | None,
           threshold: float, device: str, trust_code: bool, seed: int, as_json: bool) -> None:
    """Model randomisation test (Adebayo et al. 2018): do the maps depend on the weights?

    Re-initialises the model's stages one more at a time from the output down (cascading),
    recomputes the maps of the same images and reports SSIM and Spearman with the original
    maps per stage, and the repeatability (the same maps twice). Fails (exit 1) when the
    fully randomised model's maps still look like the original ones. A leaderboard entry
    carries the result with 'leaderboard add RUN --sanity OUT/sanity.json'.

    \b
    Example: dermx-bench sanity my-submission --store dermx.db --images photos --out sanity/
    """
    from dermx_bench.core.files import json_document, write_atomic
    from dermx_bench.harness.sanity import check_submission
    from dermx_bench.stats.analysis_tables import sanity_markdown

    folder = Path(out) if out else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    result = check_submission(submission, store_path, images_dir, method=method, n_images=n_images, seed=seed,
                              device=device, trust_code=trust_code, threshold=threshold,
                              figure=None if folder is None else folder / "sanity.png")
    text = sanity_markdown(result)
    if folder is not None:
        write_atomic(folder / "sanity.json", json_document(result.model_dump()).encode("utf-8"))
        write_atomic(folder / "sanity.md", text.encode("utf-8"))
    if as_json:
        emit_json(result.model_dump())
    else:
        click.echo(text)
    if not result.passed:
        raise click.ClickException("the maps do not depend on the model's weights: the sanity check failed")


COMMANDS: list[click.Command] = [compare, analyse, sanity]
