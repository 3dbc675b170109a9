"""Commands working from a run's saved maps, without the model: ``rescore`` and ``maps export``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dermx_bench.cli.common import RegistryChoice, emit_json, json_option, progress, store_option
from dermx_bench.core.names import ALL_METRIC_NAMES


def _fusion_rules() -> list[str]:
    from dermx_bench.consensus.fusion import list_fusion_rules

    return list_fusion_rules()


@click.command("rescore")
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@store_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write scores.csv, summary.json and summary.md into (not the run itself).")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(list(ALL_METRIC_NAMES)),
              help="A metric to report (repeatable; default: every metric).")
@click.option("--fusion", default=None, type=RegistryChoice(_fusion_rules), metavar="RULE",
              help="Fusion rule of the consensus rows (default fuzzy; majority for Singh et al.): "
                   "any, full, majority, fuzzy, fuzzy_relative.")
@click.option("--min-kappa", type=click.FloatRange(-1, 1), default=None, metavar="K",
              help="Leave out images whose per-image Fleiss kappa over characteristics is below K "
                   "(or undefined), as Singh et al. (0.4); says how many.")
@json_option
def rescore_cmd(run: str, store_path: str, out_dir: str, metrics: tuple[str, ...], fusion: str | None,
                min_kappa: float | None, as_json: bool) -> None:
    """Rescore RUN from its saved maps, without the model.

    Scores every saved map again against the store's dermatologists with the chosen
    metrics, fusion rule and kappa filter, beside the like-for-like human reference and
    the trivial-map floors computed on the same images. The same options give
    byte-identical files; with the run's own options scores.csv equals the run's.

    \b
    Example (Singh et al.'s protocol):
      dermx-bench rescore runs/my_model --store dermx.db --out rescored/ \\
          --metric best_dice --metric spearman --fusion majority --min-kappa 0.4
    """
    from dermx_bench.harness.rescore import rescore
    from dermx_bench.harness.saved_maps import read_index

    total = len(read_index(Path(run)))
    bar = progress(total, "rescoring maps", disable=not sys.stderr.isatty())
    try:
        result = rescore(run, store_path, out_dir, metrics=list(metrics) or None, fusion=fusion,
                         min_kappa=min_kappa, on_image=lambda: bar.update(1))
    finally:
        bar.close()
    if as_json:
        emit_json({"out": out_dir, "summary": result.model_dump()})
        return
    click.echo(f"Rescored {result.n_images} image(s) of {run} (fusion {result.fusion}) -> {out_dir}")
    if result.min_kappa is not None:
        click.echo(f"Excluded {result.excluded_by_kappa.n} image(s) with Fleiss kappa below {result.min_kappa:g} "
                   "or undefined")
    click.echo(f"Constant maps: {result.constant_maps.n}")
    click.echo(f"Details: {Path(out_dir) / 'summary.md'}")


@click.group("maps")
def maps_group() -> None:
    """A run's saved explanation maps."""


@maps_group.command("export")
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@json_option
def maps_export(run: str, out_dir: str, as_json: bool) -> None:
    """Write each map of RUN as DIR/<image>.npy.

    float32, shape (height, width) of the photograph, values in [0, 1]: exactly the
    array that was scored (np.load reads it). Image names that are not file-name safe
    get the overlay's file stem (the name with a short hash).
    """
    from dermx_bench.harness.saved_maps import export_maps

    written = export_maps(run, out_dir)
    if as_json:
        emit_json({"out": out_dir, "files": [str(p) for p in written]})
        return
    click.echo(f"Wrote {len(written)} map(s) to {out_dir}")


COMMANDS: list[click.Command] = [rescore_cmd, maps_group]
