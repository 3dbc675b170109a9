"""Aggregating per-image scores per characteristic (METHODS.md §8).

From ``scores.csv`` (one row per image x characteristic x reference, see
:mod:`dermx_bench.harness.scoring`):

- **per rater**: per image, the mean of each metric over the ``rater:`` rows (raters
  who drew it; undefined values skipped), then over images;
- **fusion**: the ``fusion:`` row of each image.

Each figure is an :func:`~dermx_bench.stats.estimators.image_stat`: mean over images,
sample std (ddof 1), image-bootstrap 95% interval and ``n``, the number of images where
it is defined. :func:`aggregate_scores` is deterministic: the leaderboard re-runs it on
a run's ``scores.csv`` to check an entry's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from dermx_bench.core.names import (
    ALL_METRIC_NAMES,
    FUSION_PREFIX,
    METRIC_NAMES,
    RATER_PREFIX,
    UNION,
)
from dermx_bench.results.figures import (
    BaselineStats,
    ImageScores,
    Localisation,
    LocalisationScores,
    MetricStats,
    VsBaseline,
    stat_kind,
)
from dermx_bench.stats.estimators import compare, image_stat

if TYPE_CHECKING:
    import pandas as pd

Order = Callable[[list[str]], list[str]]
"""Sorts characteristic names for reports (e.g. ``Ontology.order``)."""


def _order(names: list[str], order: Order | None) -> list[str]:
    others = [n for n in names if n != UNION]
    return (order or sorted)(others) + ([UNION] if UNION in names else [])


def per_image(
    scores: pd.DataFrame, keys: Sequence[str] = ("characteristic", "image"), metrics: Sequence[str] = METRIC_NAMES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-rater means, fusion rows), each indexed by ``keys``, one column per metric.

    Per-rater: the mean of each metric over the ``rater:`` rows of a group (undefined
    values skipped); fusion: the group's single ``fusion:`` row (ValueError if several).
    """
    ref = scores["reference"].astype(str)
    cols = list(metrics)
    raters = scores[ref.str.startswith(RATER_PREFIX)]
    fusion = scores[ref.str.startswith(FUSION_PREFIX)]
    per_rater = raters.groupby(list(keys), sort=True)[cols].mean()
    if fusion.duplicated(list(keys)).any():
        raise ValueError(f"more than one fusion row for one {', '.join(keys)}")
    fused = fusion.set_index(list(keys))[cols].sort_index()
    return per_rater, fused


def _metric_stats(frame: pd.DataFrame | None, seed: int, n_boot: int, metrics: Sequence[str]) -> MetricStats:
    stats = {m: image_stat([] if frame is None else frame[m].tolist(), seed, n_boot, stat_kind(m)) for m in metrics}
    return MetricStats.model_validate(stats)


def _typed(scores: pd.DataFrame, metrics: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in ("reference", *keys, *metrics) if c not in scores.columns]
    if missing:
        raise KeyError(f"scores table lacks column(s) {missing}")
    df = scores.copy()
    for m in metrics:
        df[m] = df[m].astype("float64")
    for k in keys:
        df[k] = df[k].astype(str)
    return df


def _localisation(
    per_rater: pd.DataFrame, fused: pd.DataFrame, n_images: pd.Series, seed: int, n_boot: int,
    order: Order | None, metrics: Sequence[str],
) -> dict[str, LocalisationScores]:
    """Per characteristic: :func:`image_stat` of the per-image values of ``per_rater`` and
    ``fused`` (both indexed by (characteristic, image))."""
    pr_chars = set(per_rater.index.get_level_values(0))
    fu_chars = set(fused.index.get_level_values(0))
    out: dict[str, LocalisationScores] = {}
    for ch in _order(sorted(n_images.index.tolist()), order):
        pr = cast("pd.DataFrame", per_rater.xs(ch, level="characteristic")) if ch in pr_chars else None
        fu = cast("pd.DataFrame", fused.xs(ch, level="characteristic")) if ch in fu_chars else None
        out[ch] = LocalisationScores(
            n_images=int(n_images[ch]),
            per_rater=_metric_stats(pr, seed, n_boot, metrics),
            fusion=_metric_stats(fu, seed, n_boot, metrics),
        )
    return out


def aggregate_scores(
    scores: pd.DataFrame, seed: int, n_boot: int, order: Order | None = None,
    metrics: Sequence[str] = METRIC_NAMES,
) -> dict[str, LocalisationScores]:
    """Localisation results per characteristic (and ``union``) from a scores table.

    Sorted by ``order`` (default: by name), ``union`` last; ``n_images`` counts the
    images with any row for it. Needs columns image, characteristic, reference and the
    ``metrics`` (default f1, sensitivity, specificity).
    """
    keys = ("characteristic", "image")
    df = _typed(scores, metrics, keys)
    per_rater, fused = per_image(df, keys, metrics)
    n_images = df.groupby("characteristic")["image"].nunique()
    return _localisation(per_rater, fused, n_images, seed, n_boot, order, metrics)


def seated_scores(
    scores: pd.DataFrame, seed: int, n_boot: int, order: Order | None = None, *, seat: str = "seat",
    metrics: Sequence[str] = METRIC_NAMES,
) -> dict[str, LocalisationScores]:
    """The like-for-like human reference (METHODS §8) from the rows of every seat.

    ``scores``: rows as :func:`aggregate_scores` takes them plus a ``seat`` column (the
    rater whose own explanation was scored, against the other raters). Per image and
    characteristic: each seat's figure exactly as a model's (per rater: mean over the
    ``rater:`` rows; fusion: the ``fusion:`` row), then the mean over the seats (undefined
    values skipped); then :func:`image_stat` over images as for a model. ``n_images``
    counts the images with any row.
    """
    keys = ("characteristic", "image", seat)
    df = _typed(scores, metrics, keys)
    seat_rater, seat_fused = per_image(df, keys, metrics)
    per_rater = seat_rater.groupby(level=["characteristic", "image"], sort=True).mean()
    fused = seat_fused.groupby(level=["characteristic", "image"], sort=True).mean()
    n_images = df.groupby("characteristic")["image"].nunique()
    return _localisation(per_rater, fused, n_images, seed, n_boot, order, metrics)


def per_image_union(scores: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> dict[str, ImageScores]:
    """Per image, the union scores averaged over raters (``None`` where undefined)."""
    per_rater, _ = per_image(_typed(scores[scores["characteristic"].astype(str) == UNION], metrics,
                                    ("characteristic", "image")), metrics=metrics)
    out: dict[str, ImageScores] = {}
    if per_rater.empty:
        return out
    for image, row in per_rater.xs(UNION, level="characteristic").iterrows():
        out[str(image)] = ImageScores(**{m: (None if np.isnan(row[m]) else float(row[m])) for m in metrics})
    return out


def metrics_of(stats: MetricStats) -> list[str]:
    """The metrics a figures block holds (the fuzzy ones, and the saliency metrics when computed)."""
    return [m for m in ALL_METRIC_NAMES if getattr(stats, m) is not None]


def with_baseline(
    localisation: Mapping[str, LocalisationScores], baseline: Mapping[str, MetricStats]
) -> dict[str, Localisation]:
    """Each characteristic's figures beside its human reference (None where there is none).

    ``vs_baseline.<metric>`` = :func:`~dermx_bench.stats.estimators.compare` of the
    per-rater mean (over images) with the reference's mean. ``baseline``: the reference's
    figures per characteristic, as the figures version picks them
    (:attr:`dermx_bench.stats.figures.FigureRules.reference_stats`).
    """
    out: dict[str, Localisation] = {}
    for ch, block in localisation.items():
        base = baseline.get(ch)
        metrics = metrics_of(block.per_rater)
        b = BaselineStats(**{m: (None if base is None else getattr(base, m)) for m in metrics})
        vs = VsBaseline(**{
            m: compare(getattr(block.per_rater, m).mean, None if getattr(b, m) is None else getattr(b, m).mean)
            for m in metrics
        })
        out[ch] = Localisation(**dict(block), baseline=b, vs_baseline=vs)
    return out
