"""The like-for-like human reference (METHODS §8): a dermatologist in the model's seat.

A model gives one map per image and is scored, for each characteristic ``c``, against
each counting rater who drew ``c`` and against their fusion
(:func:`~dermx_bench.consensus.map_scores.score_map`). A dermatologist's explanation of
the same image is the union ``U_a`` of everything they outlined on it. For every image
with at least two counting raters and every counting rater ``a`` (the *seat*), ``U_a``
(empty if ``a`` outlined nothing) is scored with that very function against the image as
the other raters see it (:meth:`ImageReference.without`): per rater against every other
rater ``r != a`` who drew ``c``, and against the fusion of the raters other than ``a``
(the fuzzy fusion divides by their number, |R| - 1). A seat has rows for ``c`` only when
some other rater drew ``c``. :func:`dermx_bench.stats.aggregate.seated_scores` then
averages per image over the seats and bootstraps over images, as for a model.

``U_a`` is scored as a :class:`~dermx_bench.consensus.maps.BinaryMap` (from its runs,
never decoded); :func:`seat_scores_decoded` is the reference implementation that decodes
it to an array (a model's map) and gives the same rows up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from dermx_bench.consensus.maps import BinaryMap, DenseMap, ScoredMap
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import (
    ALL_METRIC_NAMES,
    FUSION_PREFIX,
    LIKE_FOR_LIKE,
    METRIC_NAMES,
    SCORE_COLUMNS,
    UNION,
)
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.masks import rle
from dermx_bench.results.figures import MetricStats, stat_kind
from dermx_bench.stats.aggregate import seated_scores
from dermx_bench.stats.estimators import DEFAULT_N_BOOT, DEFAULT_SEED, image_stat

SEAT_COLUMN = "seat"
"""The column of a seat scores table naming the rater in the model's seat."""


def _seats(
    refs: Sequence[ImageReference], as_map: Callable[[ImageReference, str], ScoredMap], fusion_rule: str,
    on_image: OnImage, scorer: MapScorer = score_map, columns: Sequence[str] = SCORE_COLUMNS,
    metrics: Sequence[str] = ALL_METRIC_NAMES,
) -> pd.DataFrame:
    recs: list[tuple[Any, ...]] = []
    for ref in refs:
        if len(ref.raters) >= 2:
            for a in ref.raters:
                others = ref.without(a)
                if not others.drawn(UNION):
                    continue  # nobody else outlined anything: no reference for this seat
                for row in scorer(others, as_map(ref, a), fusion_rule):
                    recs.append((a, *(getattr(row, c) for c in columns)))
        if on_image is not None:
            on_image()
    return score_rows_frame(recs, SEAT_COLUMN, columns, metrics)


def _binary_union(ref: ImageReference, rater: str) -> ScoredMap:
    if rater not in ref.drawn(UNION):
        return BinaryMap.constant(ref.size, 0)
    return BinaryMap(ref.size, *ref.runs(UNION, rater))


def _decoded_union(ref: ImageReference, rater: str) -> ScoredMap:
    own = ref.drawn(UNION).get(rater)
    return DenseMap(np.zeros(ref.size, np.float32) if own is None else rle.decode(own).astype(np.float32))


def seat_scores(
    refs: Sequence[ImageReference], fusion_rule: str = DEFAULT_RULE, on_image: OnImage = None, *,
    scorer: MapScorer = score_map, columns: Sequence[str] = SCORE_COLUMNS, metrics: Sequence[str] = ALL_METRIC_NAMES,
) -> pd.DataFrame:
    """Every seat's ``scores.csv`` rows: columns ``seat`` and then ``columns`` (undefined
    ``metrics`` NaN); images with one counting rater have none. ``scorer(ref, map,
    fusion_rule)`` scores the seat's outline (a :class:`~dermx_bench.consensus.maps.BinaryMap`;
    :func:`~dermx_bench.consensus.map_scores.score_map`, the model's scorer, by default).
    ``on_image`` is called once per image."""
    return _seats(refs, _binary_union, fusion_rule, on_image, scorer, columns, metrics)


def seat_scores_decoded(
    refs: Sequence[ImageReference], fusion_rule: str = DEFAULT_RULE, on_image: OnImage = None
) -> pd.DataFrame:
    """Reference implementation of :func:`seat_scores`: each ``U_a`` decoded to a float32
    array and scored as a model's map is."""
    return _seats(refs, _decoded_union, fusion_rule, on_image)


def rater_figures(detail: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> dict[str, dict[str, MetricStats]]:
    """Per characteristic and seat, the seat's fusion figures over images (no interval):
    each dermatologist's own outline against the fusion of the others, as a model's
    ``fusion`` figure. ``detail``: :func:`seat_scores` rows."""
    if not len(detail):
        return {}
    fused = detail[detail["reference"].astype(str).str.startswith(FUSION_PREFIX)]
    out: dict[str, dict[str, MetricStats]] = {}
    for (ch, seat), g in fused.groupby(["characteristic", SEAT_COLUMN], sort=True):
        out.setdefault(str(ch), {})[str(seat)] = MetricStats.model_validate(
            {m: image_stat(g[m].tolist(), n_boot=0, kind=stat_kind(m)) for m in metrics})
    return out


def like_for_like_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None, *, seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
) -> AgreementTable:
    """The ``like-for-like`` table: per characteristic (and ``union``) the reference's
    figures per rater and against the fusion (:func:`~dermx_bench.stats.aggregate.seated_scores`,
    image bootstrap with ``seed`` and ``n_boot``); ``detail``: every seat's rows."""
    detail = seat_scores(refs, on_image=on_image)
    figures = seated_scores(detail, seed, n_boot, ontology.order, metrics=ALL_METRIC_NAMES)
    counts = {
        "selection": report or {}, "images": len(refs),
        "images_with_two_or_more": sum(1 for r in refs if len(r.raters) >= 2),
        "seats": int(detail[["image", SEAT_COLUMN]].drop_duplicates().shape[0]) if len(detail) else 0,
        "bootstrap": f"{n_boot} resamples of the images, seed {seed}",
    }
    frame = table_frame(figure_rows(figures), FIGURE_COLUMNS)
    return AgreementTable(LIKE_FOR_LIKE, multi_diagnosis, frame, counts, detail, figures={LIKE_FOR_LIKE: figures})
