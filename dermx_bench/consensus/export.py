"""Writing fused maps: 8-bit PNGs and COCO level sets of every image and characteristic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dermx_bench.consensus.fusion import FuzzyRLE, get_fusion_rule, levels_to_coco
from dermx_bench.consensus.references import load_references
from dermx_bench.core.files import write_json
from dermx_bench.store.db import Store
from dermx_bench.store.export import write_pngs


def write_fusions(
    store: Store,
    out_dir: str | Path,
    rule: str = "fuzzy",
    *,
    multi_diagnosis: str = "drop",
    release: str | None = None,
    coco_path: str | Path | None = None,
    on_image: Callable[[], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> int:
    """Fused maps of every image and characteristic drawn (and the union) as PNGs in ``out_dir``.

    8-bit greyscale, value = round(255 x fused fraction), named
    ``<rule>_<image>_<Characteristic>.png``; with ``coco_path`` also the nested level
    sets as COCO RLE (:func:`dermx_bench.consensus.fusion.levels_to_coco`). Returns the PNG count.
    ``on_total(n_images)`` is called once the images are known, ``on_image()`` after each is fused.
    """
    get_fusion_rule(rule)  # an unknown rule fails before any work
    file_names = {im.name: im.file_name or im.name for im in store.images()}
    refs = load_references(store, multi_diagnosis, release)  # type: ignore[arg-type]
    if on_total is not None:
        on_total(len(refs))
    fused: list[tuple[str, str, FuzzyRLE]] = []
    for ref in refs:
        for name, drawn in ref.masks.items():
            if drawn:  # an image where nobody drew anything has no union map
                fused.append((ref.image, name, ref.fuse_levels(name, rule)))
        if on_image is not None:
            on_image()
    n = write_pngs(out_dir, [(f"{rule}_{image}_{name}.png", levels.to_uint8) for image, name, levels in fused],
                   merge=True)
    if coco_path is not None:
        write_json(coco_path, levels_to_coco(fused, file_names))
    return n
