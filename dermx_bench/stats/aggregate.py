"""Aggregating per-image scores per characteristic (METHODS.md §8).

From ``scores.csv`` (one row per image x characteristic x reference, see
:mod:`dermx_bench.harness.scoring`):

- **per rater**: per image, the mean of each metric over the ``rater:`` rows (raters
  who drew it; undefined values skipped), then over images;
- **fusion**: the ``fusion:`` row of each image.

Each figure is a :func:`stat`: mean, sample std (ddof 1), a percentile bootstrap 95%
interval over images (``n_boot`` resamples of the images with replacement,
``numpy.random.default_rng(seed)``) and ``n``, the number of images where it is
defined. :func:`aggregate_scores` is deterministic: the leaderboard re-runs it on a
run's ``scores.csv`` to check an entry's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.core.names import FUSION_PREFIX, METRIC_NAMES, RATER_PREFIX, UNION

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SEED = 0
DEFAULT_N_BOOT = 1000


def stat(values: Any, seed: int, n_boot: int) -> dict[str, Any]:
    """``{"mean", "std", "ci_low", "ci_high", "n"}`` of the defined (non-NaN/None) values.

    ``std`` is the sample std (ddof 1; ``None`` for fewer than 2 values); the interval
    is the 2.5 and 97.5 percentiles (linear interpolation) of the means of ``n_boot``
    bootstrap resamples drawn with ``numpy.random.default_rng(seed)`` (``None`` when
    ``n_boot`` is 0). No defined value: everything ``None`` and ``n`` 0.
    """
    v = np.array([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else None
    lo: float | None = None
    hi: float | None = None
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boots = v[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        q = np.quantile(boots, [0.025, 0.975])
        lo, hi = float(q[0]), float(q[1])
    return {"mean": mean, "std": std, "ci_low": lo, "ci_high": hi, "n": n}


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


def aggregate_scores(
    scores: pd.DataFrame, seed: int, n_boot: int, order: Order | None = None
) -> dict[str, Any]:
    """Localisation results per characteristic (and ``union``) from a scores table.

    Returns ``{characteristic: {"n_images", "per_rater": {metric: Stat}, "fusion":
    {metric: Stat}}}`` sorted by ``order`` (default: by name), ``union`` last; ``n_images`` counts the images
    with any row for it. Needs columns image, characteristic, reference, f1,
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
    out: dict[str, Any] = {}
    for ch in _order(sorted(n_images.index.tolist()), order):
        pr = per_rater.xs(ch, level="characteristic") if ch in pr_chars else None
        fu = fused.xs(ch, level="characteristic") if ch in fu_chars else None
        out[ch] = {
            "n_images": int(n_images[ch]),
            "per_rater": {m: stat([] if pr is None else pr[m].tolist(), seed, n_boot) for m in METRIC_NAMES},
            "fusion": {m: stat([] if fu is None else fu[m].tolist(), seed, n_boot) for m in METRIC_NAMES},
        }
    return out


def per_image_union(scores: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per image, the union scores averaged over raters (``None`` where undefined)."""
    per_rater, _ = per_image(scores[scores["characteristic"].astype(str) == UNION])
    out: dict[str, dict[str, float | None]] = {}
    if per_rater.empty:
        return out
    for image, row in per_rater.xs(UNION, level="characteristic").iterrows():
        out[str(image)] = {m: (None if np.isnan(row[m]) else float(row[m])) for m in METRIC_NAMES}
    return out


def _compare(a: float | None, b: float | None) -> dict[str, float | None]:
    if a is None or b is None:
        return {"difference": None, "ratio": None}
    return {"difference": a - b, "ratio": (a / b) if b != 0 else None}


def with_baseline(localisation: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``baseline`` (the inter-rater Stat of each metric, or None) and ``vs_baseline``.

    ``vs_baseline.<metric>``: ``difference`` = per-rater mean - baseline mean,
    ``ratio`` = per-rater mean / baseline mean (``None`` when either is undefined or the
    baseline mean is 0). ``baseline``: ``load_baseline(store)["localisation"]``.
    """
    out: dict[str, Any] = {}
    for ch, block in localisation.items():
        base = baseline.get(ch) or {}
        b = {m: base.get(m) for m in METRIC_NAMES}
        vs = {
            m: _compare(block["per_rater"][m]["mean"], (b[m] or {}).get("mean") if b[m] else None)
            for m in METRIC_NAMES
        }
        out[ch] = {**block, "baseline": b, "vs_baseline": vs}
    return out
