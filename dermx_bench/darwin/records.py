"""Typed records of a Darwin file: evaluations, their annotations and what was skipped.

Coordinates stay as V7 wrote them: floats, (x, y) image pixels, possibly outside the
image. Sizes are given as ``height, width``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from dermx_bench.darwin.ontology import Kind
from dermx_bench.masks.crop import Crop

#: One ring of a polygon: float64 array of shape (n, 2), n >= 3, each row an (x, y)
#: vertex in image pixels (x to the right, y down; pixel (row r, col c) has its centre
#: at x = c, y = r). Vertices may lie outside the image; rasterising clamps or clips them.
Ring: TypeAlias = npt.NDArray[np.float64]
Point = tuple[float, float]


class Shape(StrEnum):
    """What an annotation is drawn as (its Darwin type)."""

    TAG = "tag"
    POLYGON = "polygon"  # polygon or complex_polygon (rings, even-odd)
    BOX = "bounding_box"  # a box-only annotation: a coarse area, flagged in the report
    ELLIPSE = "ellipse"
    MASK = "mask"  # a brush mask: its pixels come from the item's raster_layer


@dataclass(frozen=True)
class Ellipse:
    """A V7 ellipse: centre (cx, cy) and radii (rx, ry) in pixels, ``angle`` in radians.

    The ``rx`` axis points along (cos angle, sin angle) in (x, y) image coordinates
    (y down, so a positive angle turns it clockwise on screen).
    """

    cx: float
    cy: float
    rx: float
    ry: float
    angle: float = 0.0


@dataclass(frozen=True)
class Annotation:
    """One Darwin annotation that ingest keeps: a tag or an area.

    ``name`` is the canonical name, ``raw_name`` the spelling in the file. Areas carry
    ``rings`` (polygons, and a box as its 4-corner ring), ``ellipse``, or ``pixels``
    (a brush mask, decoded exactly from the raster layer; None when the layer holds
    none of its pixels). ``slot`` is the item slot it was drawn on ("" for JSON 1.0).
    """

    index: int
    name: str
    raw_name: str
    kind: Kind
    rings: tuple[Ring, ...] = ()
    attributes: tuple[str, ...] = ()
    raw_attributes: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    shape: Shape = Shape.TAG
    ellipse: Ellipse | None = None
    pixels: Crop | None = None
    mask_id: str = ""
    slot: str = ""

    @property
    def localised(self) -> bool:
        return self.shape is not Shape.TAG


@dataclass(frozen=True)
class Skipped:
    """An annotation ingest leaves out, and why (a point, line or skeleton is not an area)."""

    index: int
    raw_name: str
    type: str
    reason: str


@dataclass
class Evaluation:
    """One dermatologist's evaluation of one image (one Darwin file).

    ``width``/``height`` are those of the image (JSON 1.0) or of the slot the areas are
    drawn on (JSON 2.0, ``slot``; ``slots`` counts the item's slots).
    """

    source: str
    sha256: str
    format: str
    rater: str
    image: str
    image_filename: str
    width: int
    height: int
    annotations: list[Annotation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    rater_origin: str = ""
    image_origin: str = ""
    naming_note: str = ""
    slot: str = ""
    slots: int = 1

    def names_of(self, kind: Kind) -> list[str]:
        """Canonical names of the tag annotations of ``kind``, in file order, deduplicated."""
        out: list[str] = []
        for a in self.annotations:
            if a.kind is kind and not a.localised and a.name not in out:
                out.append(a.name)
        return out

    @property
    def diagnoses(self) -> list[str]:
        return self.names_of(Kind.DIAGNOSIS)

    @property
    def discard_tags(self) -> list[str]:
        return self.names_of(Kind.DISCARD)

    @property
    def tags(self) -> list[str]:
        """Non-localisable characteristics (and unknown tags when allowed)."""
        return self.names_of(Kind.NON_LOCALISABLE) + self.names_of(Kind.UNKNOWN)

    @property
    def localised(self) -> list[Annotation]:
        return [a for a in self.annotations if a.localised]

    @property
    def key(self) -> tuple[str, str]:
        return (self.rater, self.image)
