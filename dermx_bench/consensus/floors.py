"""Trivial-map floors (METHODS §8): what each metric gives a map that needs no model.

Each floor is one map per image, scored on every image exactly as a model's map
(:func:`~dermx_bench.consensus.map_scores.score_map`, aggregated by
:func:`~dermx_bench.stats.aggregate.aggregate_scores`):

- ``ones``: 1 everywhere (sensitivity 1 by construction);
- ``gaussian``: a centred Gaussian, ``exp(-d^2 / (2 sigma^2))`` with ``d`` the distance in
  pixels from the image centre ((height - 1) / 2, (width - 1) / 2) and ``sigma`` =
  :data:`GAUSSIAN_SIGMA` x the image's shorter side (peak 1 at the centre; a
  centre-bias map);
- ``zeros``: 0 everywhere (the saliency of no model at all: F1 and sensitivity 0,
  specificity 1).

Registered by name (:func:`list_floors`, :func:`get_floor`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dermx_bench.consensus.agreement_table import (
    FIGURE_COLUMNS,
    AgreementTable,
    OnImage,
    figure_rows,
    score_rows_frame,
    table_frame,
)
from dermx_bench.consensus.fusion import DEFAULT_RULE
from dermx_bench.consensus.map_scores import MapScorer, score_map
from dermx_bench.consensus.maps import BinaryMap, ScoredMap, SeparableMap
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import ALL_METRIC_NAMES, SCORE_COLUMNS
from dermx_bench.core.registry import Registry
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.stats.aggregate import aggregate_scores
from dermx_bench.stats.estimators import DEFAULT_N_BOOT, DEFAULT_SEED

GAUSSIAN_SIGMA = 0.25
"""Sigma of the ``gaussian`` floor as a fraction of the image's shorter side."""

FLOOR_COLUMN = "floor"
"""The column of a floor scores table naming the floor."""

FLOORS_TABLE = "floors"
"""The agreement table of the floors (:func:`floors_table_from_refs`)."""


@dataclass(frozen=True)
class Floor:
    """A trivial map: ``make(height, width)`` gives it for an image of that size."""

    name: str
    description: str
    make: Callable[[int, int], ScoredMap]


FLOORS: Registry[Floor] = Registry("trivial-map floor")


@functools.lru_cache(maxsize=8)
def centred_gaussian(height: int, width: int, sigma_fraction: float = GAUSSIAN_SIGMA) -> SeparableMap:
    """``exp(-((row - cy)^2 + (col - cx)^2) / (2 sigma^2))``, cy = (height - 1) / 2,
    cx = (width - 1) / 2, sigma = ``sigma_fraction`` x min(height, width); float64, peak 1
    at the centre (exactly 1 only when the centre is a pixel). Cached per size: images of one
    size share the map and its saliency precomputation."""
    sigma = sigma_fraction * min(height, width)

    def profile(n: int) -> np.ndarray:
        d = np.arange(n, dtype=np.float64) - (n - 1) / 2
        return np.exp(-(d * d) / (2.0 * sigma * sigma))

    return SeparableMap(profile(height), profile(width))


for _floor in (
    Floor("ones", "a map of ones (1 everywhere: sensitivity 1 by construction)",
          lambda h, w: BinaryMap.constant((h, w), 1)),
    Floor("gaussian", f"a centred Gaussian, sigma = {GAUSSIAN_SIGMA:g} x the image's shorter side, peak 1",
          centred_gaussian),
    Floor("zeros", "an all-zero map (the saliency of no model at all)",
          lambda h, w: BinaryMap.constant((h, w), 0)),
):
    FLOORS.add(_floor.name, _floor)


def list_floors() -> list[str]:
    """Names of the trivial-map floors, in report order: ones, gaussian, zeros."""
    return FLOORS.names()


def get_floor(name: str) -> Floor:
    """The :class:`Floor` registered as ``name`` (RegistryError if unknown)."""
    return FLOORS.get(name)


def floor_scores(
    refs: Sequence[ImageReference], floors: Sequence[str] | None = None, fusion_rule: str = DEFAULT_RULE,
    on_image: OnImage = None, *, scorer: MapScorer = score_map, columns: Sequence[str] = SCORE_COLUMNS,
    metrics: Sequence[str] = ALL_METRIC_NAMES,
) -> pd.DataFrame:
    """Every floor's ``scores.csv`` rows on every image: columns ``floor`` and then
    ``columns`` (undefined ``metrics`` NaN). ``scorer(ref, map, fusion_rule)`` gives the rows
    (:func:`~dermx_bench.consensus.map_scores.score_map`, the model's scorer, by default)."""
    specs = [get_floor(f) for f in (floors if floors is not None else list_floors())]
    recs: list[tuple[Any, ...]] = []
    for ref in refs:
        for spec in specs:
            for row in scorer(ref, spec.make(ref.height, ref.width), fusion_rule):
                recs.append((spec.name, *(getattr(row, c) for c in columns)))
        if on_image is not None:
            on_image()
    return score_rows_frame(recs, FLOOR_COLUMN, columns, metrics)


def floors_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None, *, seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
) -> AgreementTable:
    """The ``floors`` table: per floor and characteristic (and ``union``) the floor's
    figures per rater and against the fusion, aggregated exactly as a model's
    (:func:`~dermx_bench.stats.aggregate.aggregate_scores`); ``detail``: every floor's rows."""
    detail = floor_scores(refs, on_image=on_image)
    figures = {str(name): aggregate_scores(g, seed, n_boot, ontology.order, metrics=ALL_METRIC_NAMES)
               for name, g in detail.groupby(FLOOR_COLUMN, sort=False)}
    rows = [row for name, figs in figures.items() for row in figure_rows(figs, {FLOOR_COLUMN: name})]
    counts = {
        "selection": report or {}, "images": len(refs),
        "floors": [f"{name}: {get_floor(name).description}" for name in figures],
        "bootstrap": f"{n_boot} resamples of the images, seed {seed}",
    }
    frame = table_frame(rows, [FLOOR_COLUMN, *FIGURE_COLUMNS])
    return AgreementTable(FLOORS_TABLE, multi_diagnosis, frame, counts, detail, figures=figures)
