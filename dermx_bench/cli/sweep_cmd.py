"""Command: ``sweep`` (a grid of submissions x methods x targets x seeds, each cell a normal run)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from dermx_bench.cli.common import emit_json, json_option, progress


@click.command("sweep")
@click.argument("sweep_file", metavar="SWEEP.toml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cluster", default=None, metavar="ADDRESS|local:N",
              help="Run every cell's batches on a Dask cluster (as score --cluster); local:N starts one "
                   "LocalCluster for the whole sweep.")
@click.option("--add", "lb_dir", default=None, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Then add every cell to the leaderboard in DIR (an entry of the same name is replaced).")
@click.option("--dry-run", is_flag=True, help="List the cells and what running them would do; run nothing.")
@json_option
def sweep(sweep_file: Path, cluster: str | None, lb_dir: Path | None, dry_run: bool, as_json: bool) -> None:
    """Run the grid of SWEEP.toml: submissions x methods x targets (x explainer seeds).

    Each cell is a normal run folder (OUT/<submission>/<method>/<target>); running the
    sweep again skips finished cells and resumes unfinished ones. The file's format is in
    'dermx_bench.harness.sweep' (store, images, out, submissions, methods, targets, seeds,
    method_options, and the score options).

    \b
    Example:
      dermx-bench sweep grid.toml --cluster local:2 --add leaderboard/
    """
    from dermx_bench.harness.sweep import cell_status, load_sweep, run_sweep

    grid = load_sweep(sweep_file)
    n = len(grid.cells)
    if dry_run:
        rows = [{"cell": c.label, "out": str(c.out), "status": cell_status(c)} for c in grid.cells]
        if as_json:
            emit_json(rows)
        else:
            for i, r in enumerate(rows, 1):
                click.echo(f"[{i}/{n}] {r['cell']}: {r['status']} -> {r['out']}")
        return
    bar: Any = None
    t0 = time.perf_counter()

    def on_cell(i: int, cell: Any, status: str) -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
        bar = None
        verb = {"new": "running", "unfinished": "resuming", "complete": "finished already"}[status]
        click.echo(f"[{i + 1}/{n}] {cell.label}: {verb} ({time.perf_counter() - t0:.0f} s into the sweep)",
                   err=True)

    def on_plan(total: int, done: int) -> None:
        nonlocal bar
        bar = progress(total, "  images")
        bar.update(done)

    try:
        summaries = run_sweep(grid, cluster=cluster, on_cell=on_cell, on_plan=on_plan,
                              on_batch=lambda k: bar.update(k) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    added = []
    if lb_dir is not None:
        from dermx_bench.leaderboard import add_run

        added = [add_run(cell.out, lb_dir, replace=True).to_dict() for cell in grid.cells]
    if as_json:
        emit_json({"cells": [{"cell": c.label, "out": str(c.out), "n_images": s.n_images}
                             for c, s in zip(grid.cells, summaries, strict=True)], "added": added,
                   "seconds": round(time.perf_counter() - t0, 2)})
        return
    click.echo(f"Sweep of {n} cells done in {time.perf_counter() - t0:.1f} s -> {grid.out}")
    if lb_dir is not None:
        click.echo(f"Added {len(added)} entries to {lb_dir}")


COMMANDS: list[click.Command] = [sweep]
