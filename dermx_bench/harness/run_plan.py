"""Planning a scoring run: everything checked and decided before any model work.

:func:`plan_run` checks the options, loads the submission, the store's references and
saved baseline, matches the photographs, and fixes what the run will do (images, targets,
geometry, overlays) and its fingerprint (what a ``--resume`` must find unchanged).
Nothing is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dermx_bench import __version__
from dermx_bench.core.errors import InputError, StoreError, SubmissionError
from dermx_bench.core.names import UNION
from dermx_bench.harness.device import MEMORY_FORMATS, resolve_device
from dermx_bench.harness.precision import check_precision, label_with_precision
from dermx_bench.results.baseline import SavedBaseline

if TYPE_CHECKING:
    from dermx_bench.consensus.references import ImageReference
    from dermx_bench.darwin.ontology import Ontology
    from dermx_bench.harness.images import Geometry
    from dermx_bench.harness.submission import LoadedModel
    from dermx_bench.store.selection import MultiDiagnosis

TARGETS = ("gold", "predicted")


@dataclass
class ScoreOptions:
    """Options of a scoring run (the CLI's flags)."""

    method: str = "gradcam"
    target: str = "gold"
    device: str = "auto"
    batch_size: int = 16
    skip_missing: bool = False
    trust_code: bool = False
    n_boot: int = 1000
    seed: int = 0
    n_overlays: int = 6
    memory_format: str = "auto"
    method_options: dict[str, Any] = field(default_factory=dict)
    allow_slow: bool = False
    limit: int | None = None
    precision: str = "fp32"
    entry_name: str | None = None
    """The entry's display name instead of the submission's (a sweep names each cell)."""

    def method_label(self) -> str:
        """The method with every option that changes its maps and its precision, as runs record it."""
        from dermx_bench.harness.explainers import get_explainer

        return label_with_precision(get_explainer(self.method).label(self.method_options), self.precision)


@dataclass
class Plan:
    """What a run will do, decided by :func:`plan_run`.

    ``refs``: the images to score (store order); ``paths``/``geoms``: each image's
    photograph and its geometry to the model input; ``targets``: the class index to
    explain (None: the predicted class); ``excluded``/``skipped``: image -> why left out
    (no usable gold target / unusable photograph); ``n_reference_images``: the images a
    complete run scores (see :func:`n_reference_images`); ``fingerprint``: what a resumed
    run must find unchanged (written to the run state).
    """

    loaded: LoadedModel
    refs: list[ImageReference]
    paths: dict[str, Path]
    geoms: dict[str, Geometry]
    targets: dict[str, int | None]
    gold: dict[str, str | None]
    baseline: SavedBaseline
    store_hash: str
    excluded: dict[str, str]
    skipped: dict[str, str]
    overlay_images: list[str]
    device: str
    fingerprint: dict[str, Any]
    n_reference_images: int = 0
    sources: tuple[str, str, str] = ("", "", "")
    """The submission folder, store and photographs folder as absolute paths (what cluster workers open)."""


def n_reference_images(refs: Sequence[ImageReference], target: str) -> int:
    """Images a complete run scores: those with a reference (a counting evaluation), and for
    the ``gold`` target a gold diagnosis (no model can be explained for an unknown one).

    An entry's coverage is its images scored over this count; images a model leaves out
    (its classes lack the gold diagnosis, a photograph is missing) lower it.
    """
    return sum(1 for r in refs if target != "gold" or r.gold is not None)


def check_options(opts: ScoreOptions) -> None:
    """InputError (or RegistryError for the method) naming the flag of a bad option."""
    from dermx_bench.harness.explainers import get_explainer

    explainer = get_explainer(opts.method)
    explainer.resolve(opts.method_options)
    check_precision(opts.precision, explainer.family)
    if opts.target not in TARGETS:
        raise InputError("--target", "", f"expected gold or predicted, got {opts.target!r}")
    if opts.batch_size < 1:
        raise InputError("--batch-size", "", f"must be at least 1, got {opts.batch_size}")
    if opts.memory_format not in MEMORY_FORMATS:
        raise InputError("--memory-format", "", f"expected one of {', '.join(MEMORY_FORMATS)}, "
                         f"got {opts.memory_format!r}")
    if opts.n_boot < 0:
        raise InputError("--n-boot", "", f"must be >= 0, got {opts.n_boot}")
    if opts.limit is not None and opts.limit < 1:
        raise InputError("--limit", "", f"must be at least 1, got {opts.limit}")


def quick_subset(refs: Sequence[ImageReference], n: int) -> list[ImageReference]:
    """The first ``n`` images of a ``--limit`` run: one of each gold diagnosis in turn, in store order.

    Deterministic (no random choice): the diagnoses take turns in the order their first
    image appears, each giving its next image, so that a few images already cover every
    diagnosis; the chosen images keep their store order.
    """
    queues: dict[str | None, list[ImageReference]] = {}
    for r in refs:
        queues.setdefault(r.gold, []).append(r)
    chosen: set[str] = set()
    depth = 0
    while len(chosen) < min(n, len(refs)):
        for q in queues.values():
            if depth < len(q) and len(chosen) < n:
                chosen.add(q[depth].image)
        depth += 1
    return [r for r in refs if r.image in chosen]


def pick_overlays(refs: Sequence[ImageReference], gold: dict[str, str | None], n: int) -> list[str]:
    """Up to ``n`` images: the first (by name) of each gold diagnosis, then the next ones."""
    with_masks = [r.image for r in refs if r.drawn(UNION)]
    chosen: list[str] = []
    seen: set[str | None] = set()
    for name in with_masks:
        if gold.get(name) not in seen:
            seen.add(gold.get(name))
            chosen.append(name)
    for name in with_masks:
        if name not in chosen:
            chosen.append(name)
    return sorted(chosen[:n])


def read_store(
    store_path: str | Path, onto: Ontology
) -> tuple[SavedBaseline, str, list[ImageReference], dict[str, Any]]:
    """The store's saved baseline, content hash, references (as the baseline selected them)
    and image records; StoreError when there is nothing to score against."""
    from dermx_bench.consensus.baseline import load_baseline
    from dermx_bench.consensus.references import load_references
    from dermx_bench.store.db import Store

    store = Store.open(store_path)
    try:
        baseline = load_baseline(store)
        store_hash = store.content_hash()
        md = cast("MultiDiagnosis", baseline.localisation_multi_diagnosis)
        refs = load_references(store, md, baseline.release, ontology=onto)
        infos = {im.name: im for im in store.images()}
    finally:
        store.close()
    if not refs:
        raise StoreError(f"{store_path}: no image has a counting evaluation; nothing to score")
    try:
        baseline.human()
    except ValueError as exc:
        raise StoreError(f"{store_path}: {exc}; nothing to place the model beside") from None
    return baseline, store_hash, refs, infos


def plan_run(
    submission: str | Path, store_path: str | Path, images_dir: str | Path, opts: ScoreOptions,
    ontology: Ontology | None = None,
) -> Plan:
    """Everything checked and decided before any model work (nothing is written)."""
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.explainers import get_explainer
    from dermx_bench.harness.images import find_images, geometry
    from dermx_bench.harness.submission import load_submission
    from dermx_bench.harness.submission_config import find_config, parse_config, read_config

    check_options(opts)
    onto = ontology or load_ontology()
    config_file = find_config(submission)  # a bad submission (TOML, paths, classes, sizes) fails before torch loads
    parse_config(read_config(config_file), config_file, onto)
    device = resolve_device(opts.device)
    loaded = load_submission(submission, trust_code=opts.trust_code, ontology=onto,
                             need_target_layer=get_explainer(opts.method).uses_target_layer)
    baseline, store_hash, refs, infos = read_store(store_path, onto)
    dx_index = loaded.diagnosis_indices
    excluded: dict[str, str] = {}
    kept = []
    for r in refs:
        if opts.target == "gold" and r.gold is None:
            excluded[r.image] = "no gold diagnosis in the metadata"
        elif opts.target == "gold" and r.gold not in dx_index:
            excluded[r.image] = f"gold diagnosis {r.gold!r} is not one of the model's classes"
        else:
            kept.append(r)
    if not kept:
        raise SubmissionError(
            f"{loaded.config_file}: classes: no image can be explained for its gold diagnosis "
            f"({len(excluded)} excluded, e.g. {next(iter(excluded.values()))})"
        )
    found = find_images(images_dir, [infos[r.image] for r in kept], skip_missing=opts.skip_missing)
    refs_ok = [r for r in kept if r.image in found.found]
    if not refs_ok:
        raise InputError(images_dir, "", "none of the photographs can be used; nothing to score")
    if opts.limit is not None:
        refs_ok = quick_subset(refs_ok, opts.limit)
    gold = {r.image: r.gold for r in refs_ok}
    targets = {r.image: (dx_index[str(r.gold)] if opts.target == "gold" else None) for r in refs_ok}
    geoms = {r.image: geometry(r.height, r.width, loaded.input_size, loaded.config.resize) for r in refs_ok}
    names = [r.image for r in refs_ok]
    fingerprint = {
        "dermx_bench": __version__,
        "submission_config_sha256": hashlib.sha256(loaded.config_file.read_bytes()).hexdigest(),
        "weights_sha256": loaded.weights_sha256,
        "store_hash": store_hash,
        "baseline_options": baseline.options,
        "method": opts.method_label(),
        "target": opts.target,
        "device": device,
        "memory_format": opts.memory_format,
        "batch_size": opts.batch_size,
        "n_boot": opts.n_boot,
        "seed": opts.seed,
        "n_overlays": opts.n_overlays,
        "images_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        "n_images": len(names),
        **({"limit": opts.limit} if opts.limit is not None else {}),
    }
    if opts.entry_name is not None:
        fingerprint["entry_name"] = opts.entry_name
    return Plan(loaded, refs_ok, dict(found.found), geoms, targets, gold, baseline, store_hash,
                excluded, dict(found.problems), pick_overlays(refs_ok, gold, opts.n_overlays), device,
                fingerprint, n_reference_images(refs, opts.target),
                (str(loaded.folder.resolve()), str(Path(store_path).resolve()), str(Path(images_dir).resolve())))
