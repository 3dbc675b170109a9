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

from dermx_bench.core.errors import StoreError
from dermx_bench.core.files import write_json
from dermx_bench.core.paths import child
from dermx_bench.darwin import raster
from dermx_bench.darwin.ontology import load_ontology
from dermx_bench.masks import rle
from dermx_bench.store.db import Store


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
        convention = store.mask_convention()
        for ev in evals:
            h, w = size[ev.image]
            for a in store.annotations(ev.id):
                shape = a["shape"] or {}
                if shape.get("counts"):  # ellipses and brush masks keep their own pixels
                    add(ev.rater, ev.image, a["name"], {"size": [h, w], "counts": shape["counts"]},
                        a["attributes"], darwin_index=a["index"])
                elif a["rings"]:
                    crop = raster.rasterise(a["rings"], h, w, convention)
                    if crop.mask.any():
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
        "SELECT evaluation_id, name, attributes FROM annotations WHERE ring_sizes != '[]' OR shape IS NOT NULL "
        "ORDER BY evaluation_id, idx"
    ):
        bucket = out.setdefault((eid, name), [])
        bucket.extend(a for a in json.loads(attrs) if a not in bucket)
    return out


def write_coco(store: Store, out: str | Path, instances: bool = False) -> dict[str, int]:
    """Write :func:`coco_dict` to ``out`` atomically; return counts."""
    data = coco_dict(store, instances)
    write_json(out, data)
    return {k: len(data[k]) for k in ("images", "categories", "annotations")}


def write_pngs(out_dir: str | Path, items: Sequence[tuple[str, Callable[..., Any]]], merge: bool = False,
               on_file: Callable[[], None] | None = None) -> int:
    """Write 8-bit PNGs (``file name``, ``() -> uint8 array``) into ``out_dir``.

    All files go to a temporary sibling folder first; only when every one is written
    are they moved into place (the folder renamed, or with ``merge`` the files moved
    into an existing folder, replacing same-named ones). Without ``merge`` an existing
    non-empty ``out_dir`` is refused. A file name that would leave the folder (a path
    separator, ``..``, a symbolic link in ``out_dir`` pointing out) is refused before
    anything is written (:func:`dermx_bench.core.paths.child`).
    """
    from PIL import Image

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not merge:
        raise StoreError(f"{out}: folder exists and is not empty; choose a new folder")
    for name, _ in items:
        child(out, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for name, make in items:
            Image.fromarray(make()).save(child(tmp, name), compress_level=1)
            if on_file is not None:
                on_file()
        if out.exists():
            for f in tmp.iterdir():
                os.replace(f, child(out, f.name))
        else:
            tmp.chmod(0o755)
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(items)


def write_masks(store: Store, out_dir: str | Path, on_total: Callable[[int], None] | None = None,
                on_file: Callable[[], None] | None = None) -> int:
    """PNG masks ``<rater>_<image>_<Characteristic>.png`` (0/255), DermX's layout.

    ``on_total(n_files)`` once the masks are known, ``on_file()`` after each is written.
    """
    masks = store.masks()
    items = [
        (f"{ev.rater}_{ev.image}_{name}.png", lambda m=masks[(ev.id, name)]: rle.decode(m) * 255)
        for ev in store.evaluations()
        for name in ev.characteristics
    ]
    if on_total is not None:
        on_total(len(items))
    return write_pngs(out_dir, items, on_file=on_file)
