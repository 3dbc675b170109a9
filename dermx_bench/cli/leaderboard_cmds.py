"""Commands: ``leaderboard add|validate|publish`` (keep and publish the leaderboard)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dermx_bench.cli.common import RegistryChoice, emit_json, json_option
from dermx_bench.core.names import ALL_METRIC_NAMES


def _formats() -> list[str]:
    from dermx_bench.leaderboard.publish import list_formats

    return list_formats()


def dir_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--dir", "lb_dir", default="leaderboard", show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The leaderboard folder (entries live in DIR/entries/).",
    )(f)


@click.group("leaderboard")
def leaderboard() -> None:
    """Keep the leaderboard of scored submissions and publish it.

    \b
    dermx-bench leaderboard add RUN          add a scored run (checks its figures)
    dermx-bench leaderboard validate         check every entry
    dermx-bench leaderboard publish --format md --out leaderboard/README.md
    dermx-bench leaderboard publish --format html --out site/
    """


@leaderboard.command("add")
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@dir_option
@click.option("--replace", is_flag=True, help="Replace an entry of the same name.")
@click.option("--sanity", "sanity", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A sanity.json of the submission ('dermx-bench sanity ... --out DIR'), shown with the entry.")
@click.option("--seed-run", "seed_runs", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A run of the same submission trained with another seed (repeat); tables show mean ± sd "
                   "across the runs beside each run's interval.")
@json_option
def add(run: Path, lb_dir: Path, replace: bool, sanity: Path | None, seed_runs: tuple[Path, ...],
        as_json: bool) -> None:
    """Add the scored run RUN (a 'dermx-bench score' output folder) to the leaderboard.

    RUN/entry.json is validated, its figures must be reproduced exactly from
    RUN/scores.csv and RUN/predictions.csv, and its digest must cover the rest (a
    hand-edited entry is refused); it must have been scored against the same store and
    baseline options as the entries already there. The entry, copies of the run files
    and RUN/overlays/*.png are stored under DIR/entries/.
    """
    from dermx_bench.leaderboard import add_run

    result = add_run(run, lb_dir, replace=replace, sanity=sanity, seed_runs=seed_runs)
    if as_json:
        emit_json(result.to_dict())
        return
    verb = "replaced" if result.replaced else "added"
    click.echo(f"{verb} {result.name!r} as {result.file} ({result.overlays} overlay(s))")


@leaderboard.command("validate")
@dir_option
@click.option("--no-recheck", is_flag=True,
              help="Skip recomputing each entry's figures from its kept scores (faster).")
@json_option
def validate_cmd(lb_dir: Path, no_recheck: bool, as_json: bool) -> None:
    """Check every entry: schema, figures against kept scores, one store for all.

    Exit status 1 and the list of problems when anything is wrong (with --json, a
    JSON object with "ok": false and "problems" on stdout).
    """
    from dermx_bench.leaderboard import LeaderboardError, validate

    try:
        report = validate(lb_dir, recheck=not no_recheck)
    except LeaderboardError as exc:
        if not as_json:
            raise
        emit_json({"ok": False, "leaderboard": str(lb_dir), "problems": exc.problems})
        sys.exit(1)
    if as_json:
        emit_json(report.to_dict())
        return
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    n = len(report.entries)
    click.echo(
        f"{n} entr{'y' if n == 1 else 'ies'} OK in {lb_dir}"
        + (f"; store {report.content_hash}" if report.content_hash else "")
        + (f"; figures re-checked for {len(report.rechecked)}" if not no_recheck else "")
    )


@leaderboard.command("publish")
@dir_option
@click.option("--format", "fmt", required=True, type=RegistryChoice(_formats),
              help="md (for leaderboard/README.md), csv (analysis), latex (booktabs) or "
                   "html (a static site folder).")
@click.option("--out", required=True,
              help="Output file, '-' for stdout (md/csv/latex), or a folder (html).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the paired bootstrap comparing each rank with the next.")
@click.option("--n-boot", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Resamples of the paired bootstrap.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0),
              help="Test the rank of this many top entries against the next one.")
@click.option("--min-coverage", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="Rank only entries that scored at least this share of the images with a reference; "
                   "the others are listed apart, unranked.")
@click.option("--rank-by", default="f1", show_default=True, type=click.Choice(list(ALL_METRIC_NAMES)),
              metavar="METRIC", help="The union metric entries are ranked (and tested) by: "
                                     + ", ".join(ALL_METRIC_NAMES) + ".")
def publish_cmd(lb_dir: Path, fmt: str, out: str, seed: int, n_boot: int, top: int, min_coverage: float,
                rank_by: str) -> None:
    """Publish the leaderboard tables (or site) ranked by union F1 (or --rank-by METRIC).

    One row per entry plus the dermatologists' row (inter-rater agreement) on the
    same columns, and a table of sensitivity per characteristic. Each entry shows its
    coverage (images scored / images with a reference); runs below --min-coverage
    (default: complete runs only) are listed apart and not ranked.
    """
    from dermx_bench.leaderboard import publish

    if fmt == "html" and out == "-":
        raise click.UsageError("--format html writes a folder; give --out DIR")
    result = publish(lb_dir, fmt, out, seed=seed, n_boot=n_boot, top=top, min_coverage=min_coverage,
                     rank_by=rank_by)
    if out == "-":
        click.echo(result, nl=False)
    else:
        click.echo(f"wrote {fmt} to {out}")


COMMANDS: list[click.Command] = [leaderboard]
