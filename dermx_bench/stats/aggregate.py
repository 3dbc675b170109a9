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

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

import numpy as np

from dermx_bench.core.names import FUSION_PREFIX, METRIC_NAMES, RATER_PREFIX, UNION
from dermx_bench.results.figures import (
    BaselineStats,
    ImageScores,
    Localisation,
    LocalisationScores,
    MetricStats,
    VsBaseline,
)
from dermx_bench.stats.estimators import compare, image_stat

if TYPE_CHECKING:
    import pandas as pd

Order = Callable[[list[str]], list[str]]
"""Sorts characteristic names for reports (e.g. ``Ontology.order``)."""


def _order(names: list[str], order: Order | None) -> list[str]:
    others = [n for n in names if n != UNION]
    return (order or sorted)(others) + ([UNION] if UNION in names else [])


def per_image(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-rater means, fusion rows), each indexed by (characteristic, image), one column per metric."""
    ref = scores["reference"].astype(str)
    metrics = list(METRIC_NAMES)
    raters = scores[ref.str.startswith(RATER_PREFIX)]
    fusion = scores[ref.str.startswith(FUSION_PREFIX)]
    per_rater = raters.groupby(["characteristic", "image"], sort=True)[metrics].mean()
    if fusion.duplicated(["characteristic", "image"]).any():
        raise ValueError("more than one fusion row for an image and characteristic")
    fused = fusion.set_index(["characteristic", "image"])[metrics].sort_index()
    return per_rater, fused


def _metric_stats(frame: pd.DataFrame | None, seed: int, n_boot: int) -> MetricStats:
    stats = {m: image_stat([] if frame is None else frame[m].tolist(), seed, n_boot) for m in METRIC_NAMES}
    return MetricStats(**stats)


def aggregate_scores(
    scores: pd.DataFrame, seed: int, n_boot: int, order: Order | None = None
) -> dict[str, LocalisationScores]:
    """Localisation results per characteristic (and ``union``) from a scores table.

    Sorted by ``order`` (default: by name), ``union`` last; ``n_images`` counts the
    images with any row for it. Needs columns image, characteristic, reference, f1,
    sensitivity, specificity.
    """
    missing = [c for c in ("image", "characteristic", "reference", *METRIC_NAMES) if c not in scores.columns]
    if missing:
        raise KeyError(f"scores table lacks column(s) {missing}")
    df = scores.copy()
    for m in METRIC_NAMES:
        df[m] = df[m].astype("float64")
    df["image"] = df["image"].astype(str)
    df["characteristic"] = df["characteristic"].astype(str)
    per_rater, fused = per_image(df)
    n_images = df.groupby("characteristic")["image"].nunique()
    pr_chars = set(per_rater.index.get_level_values(0))
    fu_chars = set(fused.index.get_level_values(0))
    out: dict[str, LocalisationScores] = {}
    for ch in _order(sorted(n_images.index.tolist()), order):
        pr = cast("pd.DataFrame", per_rater.xs(ch, level="characteristic")) if ch in pr_chars else None
        fu = cast("pd.DataFrame", fused.xs(ch, level="characteristic")) if ch in fu_chars else None
        out[ch] = LocalisationScores(
            n_images=int(n_images[ch]),
            per_rater=_metric_stats(pr, seed, n_boot),
            fusion=_metric_stats(fu, seed, n_boot),
        )
    return out


def per_image_union(scores: pd.DataFrame) -> dict[str, ImageScores]:
    """Per image, the union scores averaged over raters (``None`` where undefined)."""
    per_rater, _ = per_image(scores[scores["characteristic"].astype(str) == UNION])
    out: dict[str, ImageScores] = {}
    if per_rater.empty:
        return out
    for image, row in per_rater.xs(UNION, level="characteristic").iterrows():
        out[str(image)] = ImageScores(**{m: (None if np.isnan(row[m]) else float(row[m])) for m in METRIC_NAMES})
    return out


def with_baseline(
    localisation: Mapping[str, LocalisationScores], baseline: Mapping[str, MetricStats]
) -> dict[str, Localisation]:
    """Each characteristic's figures beside its inter-rater baseline (None where none was saved).

    ``vs_baseline.<metric>`` = :func:`~dermx_bench.stats.estimators.compare` of the
    per-rater mean (over images) with the baseline mean (pooled over rater pairs).
    ``baseline``: the saved baseline's ``localisation``.
    """
    out: dict[str, Localisation] = {}
    for ch, block in localisation.items():
        base = baseline.get(ch)
        b = BaselineStats(**{m: (None if base is None else getattr(base, m)) for m in METRIC_NAMES})
        vs = VsBaseline(**{
            m: compare(getattr(block.per_rater, m).mean, None if getattr(b, m) is None else getattr(b, m).mean)
            for m in METRIC_NAMES
        })
        out[ch] = Localisation(**dict(block), baseline=b, vs_baseline=vs)
    return out
