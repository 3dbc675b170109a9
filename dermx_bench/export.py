"""Export a store as COCO JSON (RLE masks) or as DermX-style PNG masks.

Both write to a temporary file or folder next to the target, then rename it into
place, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dermx_bench import raster, rle
from dermx_bench.errors import StoreError
from dermx_bench.ontology import load_ontology
from dermx_bench.store import Store


def coco_dict(store: Store, instances: bool = False) -> dict[str, Any]:
    """COCO dataset dict of the store.

    One annotation per (rater, image, characteristic) mask, or with ``instances`` one
    per Darwin annotation (re-rasterised from its stored rings). Each carries
    ``rater`` and ``attributes`` beside the COCO fields; ``segmentation`` is RLE
    with string counts.
    """
    onto = load_ontology()
    images = store.images()
    evals = store.evaluations()
    drawn = sorted({c for e in evals for c in e.characteristics})
    categories = [{"id": i + 1, "name": n, "supercategory": "characteristic"} for i, n in enumerate(onto.order(drawn))]
    cat_id = {c["name"]: c["id"] for c in categories}
    image_id = {im.name: im.id for im in images}
    size = {im.name: (im.height, im.width) for im in images}
    annotations: list[dict[str, Any]] = []

    def add(ev_rater: str, image: str, name: str, mask: rle.RLE, attributes: list[str], **extra: Any) -> None:
        annotations.append({
            "id": len(annotations) + 1, "image_id": image_id[image], "category_id": cat_id[name],
            "segmentation": mask, "area": rle.area(mask), "bbox": rle.bbox(mask), "iscrowd": 0,
            "rater": ev_rater, "attributes": attributes, **extra,
        })

    if instances:
        for ev in evals:
            h, w = size[ev.image]
            for a in store.annotations(ev.id):
                if a["rings"]:
                    crop = raster.rasterise(a["rings"], w, h)
                    add(ev.rater, ev.image, a["name"], rle.encode_crop(crop), a["attributes"],
                        darwin_index=a["index"])
    else:
        masks = store.masks()
        attrs = _attributes_by_characteristic(store)
        for ev in evals:
            for name in ev.characteristics:
                add(ev.rater, ev.image, name, masks[(ev.id, name)], attrs.get((ev.id, name), []))
    return {
        "info": {"description": "DermX annotations exported by dermx-bench", "store_hash": store.content_hash()},
        "images": [
            {"id": im.id, "file_name": im.file_name or im.name, "width": im.width, "height": im.height}
            for im in images
        ],
        "categories": categories,
        "annotations": annotations,
    }


def _attributes_by_characteristic(store: Store) -> dict[tuple[int, str], list[str]]:
    out: dict[tuple[int, str], list[str]] = {}
    for eid, name, attrs in store.conn.execute(
        "SELECT evaluation_id, name, attributes FROM annotations WHERE ring_sizes != '[]' ORDER BY evaluation_id, idx"
    ):
        bucket = out.setdefault((eid, name), [])
        bucket.extend(a for a in json.loads(attrs) if a not in bucket)
    return out


def write_coco(store: Store, out: str | Path, instances: bool = False) -> dict[str, int]:
    """Write :func:`coco_dict` to ``out`` atomically; return counts."""
    data = coco_dict(store, instances)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {k: len(data[k]) for k in ("images", "categories", "annotations")}


def write_pngs(out_dir: str | Path, items: Sequence[tuple[str, Callable[..., Any]]]) -> int:
    """Write 8-bit PNGs (``file name``, ``() -> uint8 array``) into a fresh folder atomically.

    ``out_dir`` must not exist or be empty; files go to a temporary sibling folder
    that is renamed into place when all are written.
    """
    from PIL import Image

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise StoreError(f"{out}: folder exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for name, make in items:
            Image.fromarray(make()).save(tmp / name, optimize=False)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(items)


def write_masks(store: Store, out_dir: str | Path) -> int:
    """PNG masks ``<rater>_<image>_<Characteristic>.png`` (0/255), DermX's layout."""
    masks = store.masks()
    items = [
        (f"{ev.rater}_{ev.image}_{name}.png", lambda m=masks[(ev.id, name)]: rle.decode(m) * 255)
        for ev in store.evaluations()
        for name in ev.characteristics
    ]
    return write_pngs(out_dir, items)
