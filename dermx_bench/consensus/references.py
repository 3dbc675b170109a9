"""Per-image references: which raters count (METHODS §3) and their masks, from the store.

:func:`load_references` is the bridge between the dataset store and everything that
scores against dermatologists (agreement statistics, fusion, model scoring).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from dermx_bench.consensus.fusion import (
    DEFAULT_RULE,
    FuzzyRLE,
    Runs,
    events_of_runs,
    fuse,
    fuse_levels,
    ones_runs,
    segments_of_events,
)
from dermx_bench.core.errors import RegistryError
from dermx_bench.core.names import UNION
from dermx_bench.darwin.ontology import Ontology, load_ontology
from dermx_bench.masks import rle
from dermx_bench.masks.rle import RLE
from dermx_bench.store.db import EvaluationInfo, Store
from dermx_bench.store.selection import (
    MULTI_DIAGNOSIS_OPTIONS,
    MultiDiagnosis,
    Selection,
    select,
)

__all__ = ["UNION", "ImageReference", "load_references", "counting_selection", "check_multi_diagnosis"]



@dataclass
class ImageReference:
    """The counting evaluations of one image and their masks.

    ``raters``: the raters whose evaluation counts (R), sorted; ``diagnoses``: rater ->
    the diagnosis their evaluation counts with; ``masks``: characteristic -> {rater: COCO
    RLE} for the raters who drew it (D), characteristics in ontology order, then the key
    ``"union"``: each counting rater's union of all their characteristics (only raters who
    drew anything). Masks are (height, width) binary RLEs at full resolution. ``cache``
    keeps what :meth:`runs`, :meth:`events` and :meth:`coverage` decoded (shared with the
    references :meth:`without` makes, whose ``parent`` this is).
    """

    image: str
    height: int
    width: int
    gold: str | None
    raters: list[str]
    diagnoses: dict[str, str]
    masks: dict[str, dict[str, RLE]] = field(default_factory=dict)
    cache: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False, compare=False)
    parent: ImageReference | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def n_pixels(self) -> int:
        return self.height * self.width

    def characteristics(self) -> list[str]:
        """Characteristics drawn by at least one counting rater (without ``"union"``)."""
        return [c for c in self.masks if c != UNION]

    def drawn(self, characteristic: str) -> dict[str, RLE]:
        """{rater: RLE} of the counting raters who drew ``characteristic`` (may be empty)."""
        return self.masks.get(characteristic, {})

    def mask_or_empty(self, characteristic: str, rater: str) -> RLE:
        """The rater's mask, or an empty RLE if they did not draw it."""
        m = self.drawn(characteristic).get(rater)
        return m if m is not None else rle.empty(self.height, self.width)

    def runs(self, characteristic: str, rater: str) -> Runs:
        """The runs of ones of ``rater``'s mask of ``characteristic`` (decoded once, then kept)."""
        key = ("runs", characteristic, rater)
        if key not in self.cache:
            self.cache[key] = ones_runs(self.masks[characteristic][rater], self.n_pixels)
        return cast(Runs, self.cache[key])

    def coverage(self, characteristic: str) -> tuple[np.ndarray, np.ndarray]:
        """``(lengths, cov)``: the number of counting raters who drew ``characteristic`` on
        consecutive segments of pixels (:func:`~dermx_bench.consensus.fusion.segments`;
        kept). A reference made by :meth:`without` takes its parent's events and leaves
        the left-out rater's out."""
        drawn = self.drawn(characteristic)
        key = ("coverage", characteristic, *drawn)
        if key not in self.cache:
            source = self.parent if self.parent is not None and characteristic in self.parent.masks else self
            pos, delta, owner = source.events(characteristic)
            keep = np.array([r in drawn for r in source.drawn(characteristic)], bool)
            self.cache[key] = segments_of_events(pos, np.where(keep[owner], delta, 0), self.n_pixels)
        return cast(tuple[np.ndarray, np.ndarray], self.cache[key])

    def events(self, characteristic: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`~dermx_bench.consensus.fusion.events` of the masks of ``characteristic``
        (owners index :meth:`drawn` in order; kept)."""
        key = ("events", characteristic, *self.drawn(characteristic))
        if key not in self.cache:
            self.cache[key] = events_of_runs([self.runs(characteristic, r) for r in self.drawn(characteristic)])
        return cast(tuple[np.ndarray, np.ndarray, np.ndarray], self.cache[key])

    def without(self, rater: str) -> ImageReference:
        """The image as the other counting raters see it: ``rater``'s evaluation left out
        (raters R minus ``rater``; characteristics only the left-out rater drew are gone;
        ``"union"`` kept, possibly empty)."""
        masks = {ch: {r: m for r, m in d.items() if r != rater} for ch, d in self.masks.items()}
        masks = {ch: d for ch, d in masks.items() if d or ch == UNION}
        return ImageReference(
            image=self.image, height=self.height, width=self.width, gold=self.gold,
            raters=[r for r in self.raters if r != rater],
            diagnoses={r: dx for r, dx in self.diagnoses.items() if r != rater}, masks=masks, cache=self.cache, parent=self,
        )

    def fuse(self, characteristic: str, rule: str = DEFAULT_RULE) -> np.ndarray:
        """Fusion of the counting raters' masks (float32 (height, width), see :func:`fusion.fuse`)."""
        return fuse(list(self.drawn(characteristic).values()), len(self.raters), rule, size=self.size)

    def fuse_levels(self, characteristic: str, rule: str = DEFAULT_RULE) -> FuzzyRLE:
        """Lossless level-set form of :meth:`fuse`."""
        return fuse_levels(list(self.drawn(characteristic).values()), len(self.raters), rule, size=self.size)


def check_multi_diagnosis(multi_diagnosis: str) -> None:
    """RegistryError unless ``multi_diagnosis`` is one of ``MULTI_DIAGNOSIS_OPTIONS``."""
    if multi_diagnosis not in MULTI_DIAGNOSIS_OPTIONS:
        raise RegistryError("multi-diagnosis convention", multi_diagnosis, list(MULTI_DIAGNOSIS_OPTIONS))


def counting_selection(
    store: Store, multi_diagnosis: MultiDiagnosis = "drop", release: str | None = None
) -> tuple[list[EvaluationInfo], Selection]:
    """The store's evaluations (of ``release``) and which of them count (METHODS §3)."""
    check_multi_diagnosis(multi_diagnosis)
    evals = store.evaluations(release)
    return evals, select(evals, multi_diagnosis)


def load_references(
    store: Store,
    multi_diagnosis: MultiDiagnosis = "drop",
    release: str | None = None,
    *,
    ontology: Ontology | None = None,
    union: bool = True,
    on_image: Callable[[], None] | None = None,
) -> list[ImageReference]:
    """One :class:`ImageReference` per image with at least one counting evaluation, by name.

    ``multi_diagnosis``: how evaluations with several diagnoses count (METHODS §3);
    ``release``: only that release's evaluations; ``union``: also build the ``"union"``
    masks; ``on_image``: called once per image (progress).
    """
    onto = ontology or load_ontology()
    evals, sel = counting_selection(store, multi_diagnosis, release)
    kept = [(evals[i], dx) for i, dx in sel.kept.items()]
    return build_references(store, kept, onto, union=union, on_image=on_image)


def build_references(
    store: Store,
    kept: Sequence[tuple[EvaluationInfo, str]],
    ontology: Ontology,
    *,
    union: bool = True,
    on_image: Callable[[], None] | None = None,
) -> list[ImageReference]:
    """References from already selected ``(evaluation, counted diagnosis)`` pairs."""
    images = {im.name: im for im in store.images()}
    masks = store.masks([ev.id for ev, _ in kept]) if kept else {}
    by_eval: dict[int, list[tuple[str, RLE]]] = {}
    for (eid, ch), m in masks.items():
        by_eval.setdefault(eid, []).append((ch, m))
    per_image: dict[str, list[tuple[EvaluationInfo, str]]] = {}
    for ev, dx in kept:
        per_image.setdefault(ev.image, []).append((ev, dx))
    out: list[ImageReference] = []
    for name in sorted(per_image):
        im = images[name]
        pairs = sorted(per_image[name], key=lambda p: p[0].rater)
        drawn: dict[str, dict[str, RLE]] = {}
        unions: dict[str, RLE] = {}
        for ev, _ in pairs:
            own = by_eval.get(ev.id, [])
            for ch, m in own:
                drawn.setdefault(ch, {})[ev.rater] = m
            if union and own:
                unions[ev.rater] = own[0][1] if len(own) == 1 else rle.merge([m for _, m in own])
        ordered = {ch: dict(sorted(drawn[ch].items())) for ch in ontology.order(list(drawn))}
        if union:
            ordered[UNION] = unions
        out.append(ImageReference(
            image=name, height=im.height, width=im.width, gold=im.gold,
            raters=[ev.rater for ev, _ in pairs], diagnoses={ev.rater: dx for ev, dx in pairs},
            masks=ordered,
        ))
        if on_image is not None:
            on_image()
    return out
