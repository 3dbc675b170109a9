"""``dermx-bench demo``: the whole toolkit on synthetic data, offline."""

from __future__ import annotations

import time

import click

from dermx_bench.cli.common import emit_json, json_option

MIN_IMAGES = 12
"""Fewest synthetic images the demo runs with (two of each of the six diagnoses)."""
MAX_IMAGES = 5000


@click.command()
@click.option("--out", default="demo-out", show_default=True, type=click.Path(file_okay=False),
              help="Folder for everything the demo makes (replaced if an earlier demo made it).")
@click.option("--images", "n_images", default=96, show_default=True, type=click.IntRange(MIN_IMAGES, MAX_IMAGES),
              help="Synthetic images to simulate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of every random choice.")
@click.option("--arch", default=None, metavar="NAME",
              help="timm architecture of the two models (default test_resnet; e.g. test_vit for a ViT).")
@json_option
def demo(out: str, n_images: int, seed: int, arch: str | None, as_json: bool) -> None:
    """Run the whole toolkit end to end on synthetic data, offline, in a few minutes.

    Simulates three dermatologists annotating synthetic images (Darwin files),
    ingests them, computes the inter-rater baselines, paints synthetic photographs
    with a spurious marker, trains a lesion-aware and a marker-shortcut model,
    scores both with Grad-CAM and publishes the leaderboard (Markdown and a site).
    """
    from dermx_bench.synthetic.demo import run_demo

    t0 = time.perf_counter()
    result = run_demo(out, n_images=n_images, seed=seed, arch=arch,
                      on_step=lambda name: click.echo(f"[demo] {name} ...", err=True))
    wall = time.perf_counter() - t0
    if as_json:
        emit_json({**result.as_dict(), "wall_seconds": round(wall, 1)})
        return
    click.echo(result.table_text)
    click.echo(f"Ranking: {' > '.join(result.ranking)}")
    u = {k: float(v) if v is not None else float("nan") for k, v in result.union_f1.items()}
    if u:
        click.echo(f"Honest − shortcut, union F1 per image: {u['difference']:.3f} "
                   f"[{u['ci_low']:.3f}, {u['ci_high']:.3f}], Wilcoxon p = {u['wilcoxon_p']:.2g}, "
                   f"honest higher on {100 * u['honest_wins']:.0f}% of images")
        click.echo("Sanity (model randomisation): " + ", ".join(
            f"{n} {'passed' if ok else 'FAILED'}" for n, ok in result.sanity_passed.items()))
        click.echo("")
        click.echo(result.strata_md)
    click.echo("Files:")
    for k, v in result.paths().items():
        click.echo(f"  {k:12s} {v}")
    click.echo(f"Demo finished in {wall:.0f} s.")


COMMANDS: list[click.Command] = [demo]
