"""Commands of the annotation lead: ``ingest``, ``info`` and ``export``."""

from __future__ import annotations

from typing import Any

import click

from dermx_bench.cli.common import (
    emit_json,
    json_option,
    lock_timeout_option,
    progress,
    set_total,
    store_option,
)
from dermx_bench.core.limits import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from dermx_bench.darwin.conventions import MaskConvention
from dermx_bench.darwin.naming import DEFAULT_NAME_PATTERN


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@store_option
@click.option("--metadata", type=click.Path(exists=True, dir_okay=False),
              help="DermX metadata.csv (';'-separated): gold diagnosis, dataset, skin tone, age per image.")
@click.option("--replace", is_flag=True,
              help="Replace stored evaluations that differ (the old ones are kept in history).")
@click.option("--skip-invalid", is_flag=True,
              help="Ingest the valid files and list the invalid ones, instead of failing whole.")
@click.option("--allow-unknown", is_flag=True, help="Record names the ontology does not know as unknown.")
@click.option("--name-pattern", default=DEFAULT_NAME_PATTERN, show_default=True,
              help="Regex with groups 'rater' and 'image' applied to each file name (without .json).")
@click.option("--rater", default=None, metavar="NAME",
              help="The rater of every file (an export folder or zip holding one rater's work); "
                   "the image then comes from the file's item/image name.")
@click.option("--strict-types", is_flag=True,
              help="Fail on keypoints, lines, skeletons and other non-area annotations instead of skipping them.")
@click.option("--mask-convention", type=click.Choice([c.value for c in MaskConvention]),
              default=MaskConvention.CLAMP.value, show_default=True,
              help="Polygons leaving the image: 'clamp' their vertices (V7's rasteriser, the DermX masks) or "
                   "'clip' the polygon as drawn at the image border (darwin-py's semantic-mask exporter). "
                   "A store holds one convention.")
@click.option("--release", default=None,
              help="Release label of these evaluations [default: the folder above 'annotations', or the zip name].")
@click.option("--max-image-pixels", default=DEFAULT_MAX_IMAGE_PIXELS, show_default=True,
              type=click.IntRange(min=1),
              help=f"Refuse images of more pixels than this (width x height; each side at most {MAX_IMAGE_SIDE}).")
@click.option("--max-file-mb", default=DEFAULT_MAX_FILE_BYTES // 2**20, show_default=True, type=click.IntRange(min=1),
              help="Refuse Darwin files (and zip members, uncompressed) larger than this many MiB.")
@lock_timeout_option
@json_option
def ingest(sources: tuple[str, ...], store_path: str, metadata: str | None, replace: bool, skip_invalid: bool,
           allow_unknown: bool, name_pattern: str, rater: str | None, strict_types: bool, mask_convention: str,
           release: str | None, max_image_pixels: int, max_file_mb: int, lock_timeout: float,
           as_json: bool) -> None:
    """Ingest V7 Darwin exports (JSON 1.0/2.0 files, folders, .zip) into a dataset store.

    Polygons, boxes (flagged as coarse), ellipses and brush masks become masks; points,
    lines and skeletons are skipped with a report line (--strict-types: an error);
    video items and items with areas on several slots are refused.

    Everything is validated before the store is touched, and the store is written
    in one transaction: on any error nothing changes. Prints a report of what was
    read and everything odd in the export, with where each rater and image name came from.

    Rater and image names become file names, so they must be 1 to 200 characters of
    UTF-8 text without '/', '\\' or control characters, not starting with '.', and
    without a space at either end; a file whose names break this rule is invalid.
    Only ingest creates a store, and only in a new file.
    """
    from dermx_bench.store.ingest import ingest_sources

    with progress(None, "reading", disable=as_json) as bar:
        report = ingest_sources(
            store_path, sources, metadata=metadata, replace=replace, skip_invalid=skip_invalid,
            allow_unknown=allow_unknown, name_pattern=name_pattern, rater=rater, strict_types=strict_types,
            mask_convention=mask_convention, release=release, on_file=lambda: bar.update(1),
            max_image_pixels=max_image_pixels, max_file_bytes=max_file_mb * 2**20, lock_timeout=lock_timeout,
        )
    data = report.as_dict()
    if as_json:
        emit_json(data)
    else:
        click.echo(format_report(data))
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if report.invalid:
        click.echo(f"Warning: {len(report.invalid)} invalid file(s) skipped; see the report.", err=True)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in d.items())


def _examples(title: str, tally: dict[str, Any], shown: int = 3) -> list[str]:
    return [f"{title}: {tally['count']}"] + [f"    e.g. {ex}" for ex in tally["examples"][:shown]]


def format_report(d: dict[str, Any]) -> str:
    """The ingest report as text."""
    ev, sel, ann, img = d["evaluations"], d["selection"], d["annotations"], d["images"]
    lines = [
        f"Files read: {d['files_read']}",
        f"Evaluations: {ev['read']} read, {ev['added']} added, {ev['unchanged']} unchanged, "
        f"{ev['replaced']} replaced" + "".join(f"; {r}: {n}" for r, n in ev["by_release"].items()),
        f"Kept (multi_diagnosis=drop): {sel.get('kept', 0)}; discarded: {sel.get('discarded', 0)}"
        + "".join(f"; {r}: {n}" for r, n in sel.get("discarded_by_reason", {}).items()),
        f"Multi-diagnosis evaluations: {sel.get('multi_diagnosis_evaluations', 0)} "
        f"({sel.get('multi_diagnosis_dropped', 0)} dropped by default)",
        f"Annotations: {ann['localised']} localised, {ann['tags']} tags; {ann['masks']} rater masks"
        + (f" ({_counts(ann['by_shape'])}; mask convention {d['mask_convention']})" if ann["by_shape"] else ""),
        f"Images in store: {img['count']}; without gold diagnosis: {img['without_gold_diagnosis']}"
        + (f" (e.g. {', '.join(img['without_gold_examples'])})" if img["without_gold_examples"] else ""),
    ]
    names = d["names"]
    if names["rater_origins"]:
        lines.append(f"Names: raters from {_counts(names['rater_origins'])}; "
                     f"images from {_counts(names['image_origins'])}")
        if len(names["raters"]) <= 10:
            lines.append("  raters: " + ", ".join(f"{r} ({_counts(o)})" for r, o in names["raters"].items()))
    if names["notes"]["count"]:
        lines += ["  " + ln for ln in _examples("Rater names other rules would give differently", names["notes"])]
    if ann["box_only"]["count"]:
        lines += _examples("Box-only areas (ingested as their box: a coarse outline)", ann["box_only"])
    if ann["skipped"]:
        lines.append("Skipped annotations (not areas; --strict-types makes them an error):")
        for kind, t in ann["skipped"].items():
            lines += ["  " + ln for ln in _examples(kind, t)]
    if d["multi_slot_items"]["count"]:
        lines += _examples("Multi-slot items (areas drawn on their slot's canvas)", d["multi_slot_items"])
    if d["metadata"]:
        m = d["metadata"]
        lines.append(f"Metadata: {m['rows']} rows from {m['file']}, {m['with_gold_diagnosis']} with gold diagnosis")
    if d["canonicalised"]:
        lines.append("Canonicalised spellings:")
        lines += [f"  {k}: {n}" for k, n in d["canonicalised"].items()]
    if d["unknown_names"]:
        lines.append("Unknown names (recorded as unknown):")
        lines += [f"  {k}: {n}" for k, n in d["unknown_names"].items()]
    if d["geometry_issues"]:
        lines.append("Geometry issues (rings kept as drawn; V7's rasterisation applies):")
        for issue, g in d["geometry_issues"].items():
            lines += ["  " + ln for ln in _examples(issue, g)]
    if d["invalid_files"]:
        lines.append(f"Invalid files skipped: {len(d['invalid_files'])}")
        lines += [f"  {x['error']}" for x in d["invalid_files"]]
    if d["warnings"]:
        lines.append("Warnings:")
        lines += [f"  {w}" for w in d["warnings"]]
    lines.append(f"Done in {d['seconds']:.1f} s.")
    return "\n".join(lines)


@click.command()
@store_option
@json_option
def info(store_path: str, as_json: bool) -> None:
    """Counts per release, rater, diagnosis and characteristic of a store."""
    from dermx_bench.store.db import Store
    from dermx_bench.store.inventory import inventory

    with Store.open(store_path) as store:
        data = inventory(store)
    if as_json:
        emit_json(data)
        return
    n_eval, discarded = data["evaluations"], sum(data["discarded"].values())
    by_n = data["evaluations_by_number_of_diagnoses"]
    click.echo(f"Store {data['store']} (content hash {data['content_hash'][:12]})")
    click.echo(f"Images: {data['images']} ({data['images_without_gold_diagnosis']} without a gold diagnosis "
               "in the metadata)")
    click.echo(f"Evaluations (one per rater and image): {n_eval}; kept {n_eval - discarded}, discarded {discarded}"
               + (f" ({', '.join(f'{v} {k}' for k, v in data['discarded'].items())})" if discarded else ""))
    _labelled("Releases", data["releases"])
    _labelled("Raters (evaluations per rater)", data["raters"])
    _labelled("Gold diagnoses (images per diagnosis, from the metadata)", data["gold_diagnoses"])
    dx_sum = sum(data["diagnoses"].values())
    _labelled(f"Diagnoses tagged by the raters (evaluations tagging each, discarded ones included). They sum to "
            f"{dx_sum}, not {n_eval}: {by_n['2 or more']} evaluation(s) tag two or more diagnoses and "
            f"{by_n['0']} tag none", data["diagnoses"])
    _labelled(f"Characteristics (evaluations, of all {n_eval}, that outlined (localisable) or tagged "
            "(non-localisable) each)", data["characteristics"])


def _labelled(title: str, counts: dict[str, Any]) -> None:
    """``title:`` then one indented ``name: count`` line per entry (a dict: ``key value`` pairs)."""
    import textwrap

    click.echo(textwrap.fill(f"{title}:", 100, subsequent_indent="  "))
    for k, v in counts.items():
        click.echo(f"  {k}: {v if not isinstance(v, dict) else ', '.join(f'{b} {a}' for a, b in v.items())}")


@click.command()
@store_option
@lock_timeout_option
def migrate(store_path: str, lock_timeout: float) -> None:
    """Upgrade a store made by an older dermx-bench to this schema version, in place.

    Commands that only read a store (info, export, fuse, agreement without --save,
    score, synth-images) open it read-only and ask for this when its schema is older.
    """
    from dermx_bench.store.db import SCHEMA_VERSION, Store

    with Store.open(store_path, write=True, timeout=lock_timeout):
        pass
    click.echo(f"{store_path}: store schema version {SCHEMA_VERSION}")


@click.group()
def export() -> None:
    """Export masks as COCO JSON or DermX-style PNGs."""


@export.command("coco")
@store_option
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--instances", is_flag=True, help="One entry per Darwin annotation instead of per rater mask.")
@json_option
def export_coco(store_path: str, out: str, instances: bool, as_json: bool) -> None:
    """Write a COCO file (RLE masks with rater and attributes) that pycocotools loads."""
    from dermx_bench.store.db import Store
    from dermx_bench.store.export import write_coco

    with Store.open(store_path) as store:
        counts = write_coco(store, out, instances=instances)
    if as_json:
        emit_json({"out": out, **counts})
    else:
        click.echo(f"Wrote {out}: {counts['images']} images, {counts['categories']} categories, "
                   f"{counts['annotations']} annotations")


@export.command("masks")
@store_option
@click.argument("out_dir", type=click.Path(file_okay=False))
def export_masks(store_path: str, out_dir: str) -> None:
    """Write PNG masks <rater>_<image>_<Characteristic>.png (0/255), DermX's layout."""
    from dermx_bench.store.db import Store
    from dermx_bench.store.export import write_masks

    with Store.open(store_path) as store, progress(None, "writing masks") as bar:
        n = write_masks(store, out_dir, on_total=set_total(bar), on_file=lambda: bar.update(1))
    click.echo(f"Wrote {n} masks to {out_dir}")


COMMANDS: list[click.Command] = [ingest, info, migrate, export]
