"""The ingest report: what an ingest read, wrote, skipped and found odd (JSON via ``as_dict``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from dermx_bench.darwin import raster
from dermx_bench.darwin.ontology import Kind
from dermx_bench.darwin.reader import Evaluation, Shape

EXAMPLES = 5


@dataclass
class Tally:
    """A count and its first few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": self.examples}


def _tallies(d: dict[str, Tally]) -> dict[str, dict[str, Any]]:
    return {k: v.as_dict() for k, v in d.items()}


@dataclass
class IngestReport:
    """What an ingest read, wrote and found odd. ``as_dict()`` is its JSON form."""

    sources: list[str]
    files_read: int = 0
    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    invalid: list[dict[str, str]] = field(default_factory=list)
    selection: dict[str, Any] = field(default_factory=dict)
    localised_annotations: int = 0
    tag_annotations: int = 0
    masks: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    box_only: Tally = field(default_factory=Tally)
    skipped: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    canonicalised: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    geometry: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    multi_slot: Tally = field(default_factory=Tally)
    rater_origins: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    image_origins: Counter[str] = field(default_factory=Counter)
    naming_notes: Tally = field(default_factory=Tally)
    warnings: list[str] = field(default_factory=list)
    mask_convention: str = "clamp"
    images: int = 0
    images_without_gold: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    releases: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def evaluations_read(self) -> int:
        return self.added + self.unchanged + self.replaced

    def note_evaluation(self, ev: Evaluation) -> None:
        """Count and note what one parsed evaluation holds (names, shapes, skips, geometry)."""
        for a in ev.annotations:
            if a.raw_name != a.name:
                self.canonicalised[f"{a.raw_name} -> {a.name}"] += 1
            for raw, canon in zip(a.raw_attributes, a.attributes, strict=True):
                if raw != canon:
                    self.canonicalised[f"{raw} -> {canon}"] += 1
            if a.kind is Kind.UNKNOWN:
                self.unknown[a.raw_name] += 1
            if not a.localised:
                self.tag_annotations += 1
                continue
            self.localised_annotations += 1
            self.shapes[a.shape.value] += 1
            if a.shape is Shape.BOX:
                self.box_only.add(f"{ev.source}: annotations[{a.index}] ({a.raw_name!r})")
        for s in ev.skipped:
            self.skipped[s.type].add(f"{ev.source}: annotations[{s.index}] ({s.raw_name!r}): {s.reason}")
        if ev.slots > 1:
            self.multi_slot.add(f"{ev.source}: drawn on slot {ev.slot!r} ({ev.width}x{ev.height}) of {ev.slots}")
        self.rater_origins[ev.rater][ev.rater_origin] += 1
        self.image_origins[ev.image_origin] += 1
        if ev.naming_note:
            self.naming_notes.add(f"{ev.source}: rater {ev.rater!r} from {ev.rater_origin}; {ev.naming_note}")
        self._note_geometry(ev)

    def _note_geometry(self, ev: Evaluation) -> None:
        ringed = [a for a in ev.localised if a.rings]
        where = [(a, j) for a in ringed for j in range(len(a.rings))]
        rings = [ring for a in ringed for ring in a.rings]
        for (a, j), issues in zip(where, raster.geometry_issues(rings, ev.height, ev.width), strict=True):
            for issue in issues:
                self.geometry[issue].add(f"{ev.source}: annotations[{a.index}] ({a.raw_name!r}) ring {j}")
        for a in ev.localised:
            if a.ellipse is not None:
                for issue in raster.ellipse_issues(a.ellipse, ev.height, ev.width):
                    self.geometry[issue].add(f"{ev.source}: annotations[{a.index}] ({a.raw_name!r}) ellipse")

    def note_empty(self, ev: Evaluation, index: int, raw_name: str) -> None:
        """An area without a single pixel in the image (no mask is made of it)."""
        self.geometry["no-pixels"].add(f"{ev.source}: annotations[{index}] ({raw_name!r})")

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "files_read": self.files_read,
            "evaluations": {
                "read": self.evaluations_read,
                "added": self.added,
                "unchanged": self.unchanged,
                "replaced": self.replaced,
                "by_release": dict(self.releases),
            },
            "invalid_files": self.invalid,
            "selection": self.selection,
            "annotations": {
                "localised": self.localised_annotations,
                "tags": self.tag_annotations,
                "masks": self.masks,
                "by_shape": dict(sorted(self.shapes.items())),
                "box_only": self.box_only.as_dict(),
                "skipped": _tallies(self.skipped),
            },
            "mask_convention": self.mask_convention,
            "multi_slot_items": self.multi_slot.as_dict(),
            "names": {
                "rater_origins": dict(sum(self.rater_origins.values(), Counter())),
                "raters": {r: dict(o) for r, o in sorted(self.rater_origins.items())},
                "image_origins": dict(self.image_origins),
                "notes": self.naming_notes.as_dict(),
            },
            "warnings": self.warnings,
            "canonicalised": dict(sorted(self.canonicalised.items())),
            "unknown_names": dict(sorted(self.unknown.items())),
            "geometry_issues": _tallies(self.geometry),
            "images": {
                "count": self.images,
                "without_gold_diagnosis": len(self.images_without_gold),
                "without_gold_examples": self.images_without_gold[:EXAMPLES],
            },
            "metadata": self.metadata,
            "seconds": round(self.seconds, 3),
        }
