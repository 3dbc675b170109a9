"""Commands of the human baseline: ``fuse`` (consensus maps) and ``agreement`` (inter-rater tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from dermx_bench.cli.common import (
    RegistryChoice,
    lock_timeout_option,
    progress,
    set_total,
    store_option,
)
from dermx_bench.store.selection import MULTI_DIAGNOSIS_OPTIONS

_MULTI = list(MULTI_DIAGNOSIS_OPTIONS)


def _fusion_rules() -> list[str]:
    from dermx_bench.consensus.fusion import list_fusion_rules

    return list_fusion_rules()


def _tables() -> tuple[str, ...]:
    from dermx_bench.consensus.agreement import TABLES

    return TABLES


def _multi_option(help_text: str) -> Any:
    return click.option("--multi-diagnosis", type=click.Choice(_MULTI), default=None, help=help_text)


@click.command()
@store_option
@click.option("--rule", default="fuzzy", show_default=True, type=RegistryChoice(_fusion_rules),
              help="Fusion rule (METHODS §5; fuzzy = n/|R|, fuzzy_relative = n/|D|).")
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--coco", "coco_path", type=click.Path(dir_okay=False),
              help="Also write the fused maps as nested level sets in COCO RLE to this JSON file.")
@_multi_option("Evaluations with several diagnoses: drop (default), alphabetical or first (METHODS §3).")
@click.option("--release", default=None, help="Only evaluations of this release.")
def fuse(store_path: str, rule: str, outdir: str, coco_path: str | None, multi_diagnosis: str | None,
         release: str | None) -> None:
    """Fuse the counting raters' masks of every image and characteristic into OUTDIR.

    Writes one 8-bit greyscale PNG per image and characteristic drawn (plus the union
    of all characteristics), value = round(255 x fused fraction), named
    <rule>_<image>_<Characteristic>.png. Files are written to a temporary folder and
    moved into OUTDIR only when all succeeded.
    """
    from dermx_bench.consensus.export import write_fusions
    from dermx_bench.store.db import Store

    with Store.open(store_path) as store:
        with progress(None, f"fusing ({rule})") as bar:
            n = write_fusions(store, outdir, rule, multi_diagnosis=multi_diagnosis or "drop", release=release,
                              coco_path=coco_path, on_image=lambda: bar.update(1), on_total=set_total(bar))
    click.echo(f"Wrote {n} fused maps to {outdir}" + (f" and level sets to {coco_path}" if coco_path else ""))


@click.command()
@store_option
@click.option("--table", type=RegistryChoice(_tables, extra=["all"]), default=None,
              help="Which table; 'all' for every table [default: all, or none with --save].")
@_multi_option("Evaluations with several diagnoses [default: the published convention of each table: "
               "alphabetical for diagnosis and presence, drop for localisation, fleiss, leave-one-out].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "md"]), default="table",
              show_default=True,
              help="csv/json: unrounded; table/md: two decimals. '--table all --format md' is the "
                   "reproduction report with the counts each table rests on.")
@click.option("--release", default=None, help="Only evaluations of this release.")
@click.option("--save", is_flag=True,
              help="Compute every table with the published conventions and save them, with the store's "
                   "content hash, as the baseline (like-for-like reference, floors, rater-to-rater tables) "
                   "that scoring and the leaderboard use.")
@lock_timeout_option
def agreement(store_path: str, table: str | None, multi_diagnosis: str | None, fmt: str, release: str | None,
              save: bool, lock_timeout: float) -> None:
    """Inter-rater agreement of the dermatologists (METHODS §6) and the human reference (§8).

    like-for-like is the reference a model is compared with: each dermatologist's own
    explanation scored exactly as a model's map; floors are trivial maps (ones, a centred
    Gaussian, zeros) scored the same way. localisation is rater-to-rater agreement (DermX
    Table 3b), not a reference for a model.

    \b
    Tables: diagnosis-gold, diagnosis-pairwise, presence, localisation, fleiss, leave-one-out,
    like-for-like, floors.
    Examples:
      dermx-bench agreement --store dermx.db --table localisation --format csv
      dermx-bench agreement --store dermx.db --table all --format md > report.md
      dermx-bench agreement --store dermx.db --save
      dermx-bench agreement --store dermx.db --table like-for-like

    Only --save writes to the store; otherwise it is opened read-only.
    """
    from dermx_bench.consensus.agreement import TABLES, compute_tables
    from dermx_bench.consensus.agreement_report import render
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.store.db import Store

    if table is None and not save:
        table = "all"
    tables = list(TABLES) if table == "all" else ([table] if table else [])
    if fmt == "csv" and len(tables) > 1:
        raise click.UsageError("the csv format holds one table; choose one with --table")
    if save and multi_diagnosis is not None:
        raise click.UsageError("--save always uses the published conventions; leave out --multi-diagnosis")
    with Store.open(store_path, write=save, timeout=lock_timeout) as store:
        if save:
            with progress(None, "saving baselines") as bar:
                doc = save_baselines(store, datetime.now(UTC).isoformat(timespec="seconds"), release=release,
                                     on_image=lambda: bar.update(1), on_total=set_total(bar))
            click.echo(f"saved {len(TABLES)} agreement tables and the baseline to {store_path} "
                       f"(store hash {doc.store_hash[:12]})", err=bool(tables))
        if tables:
            with progress(None, "agreement") as bar:
                result = compute_tables(store, tables, multi_diagnosis,  # type: ignore[arg-type]
                                        release=release, on_image=lambda: bar.update(1), on_total=set_total(bar))
            click.echo(render(result, fmt, store_hash=store.content_hash()))


COMMANDS: list[click.Command] = [fuse, agreement]
