"""Two runs compared image by image (issue 10): paired bootstrap, Wilcoxon, Holm, wins.

Inputs are per-image tables (:func:`per_image_values`): one row per (characteristic, image),
one column per metric, NaN where the metric is undefined. A characteristic and metric is
compared on the images where both runs have a defined value.

- ``difference`` and its interval: :func:`dermx_bench.stats.estimators.paired_bootstrap`
  (the one resampling module) of A − B;
- ``wilcoxon_p``: ``scipy.stats.wilcoxon`` (two-sided, zero differences dropped, the
  exact distribution for small samples as scipy chooses); 1 when every difference is 0,
  None with no shared image;
- ``holm_p``: :func:`holm` across the characteristics of one metric (the union, a
  summary of them, is not counted and keeps its own p);
- ``a_wins``/``b_wins``: shares of the shared images where one scores strictly higher.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dermx_bench.core.names import FUSION_PREFIX, RATER_PREFIX, SCORE_INFO_COLUMNS, UNION
from dermx_bench.results.analyses import FUSION, PER_RATER, PairedRow
from dermx_bench.stats.estimators import COMPARE_N_BOOT, DEFAULT_SEED, paired_bootstrap

if TYPE_CHECKING:
    import pandas as pd


def metric_columns(columns: Iterable[str]) -> list[str]:
    """The per-image metric columns of a ``scores.csv`` header, in file order: every column
    but :data:`~dermx_bench.core.names.SCORE_INFO_COLUMNS`."""
    return [c for c in columns if c not in SCORE_INFO_COLUMNS]


def per_image_values(scores: pd.DataFrame, reference: str, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per (characteristic, image) the metrics of a ``scores.csv`` table, indexed by both.

    ``reference``: ``per-rater`` (the mean over the ``rater:`` rows, undefined skipped) or
    ``fusion`` (the ``fusion:`` row). ``metrics`` default to :func:`metric_columns`.
    """
    cols = list(metrics) if metrics is not None else metric_columns(scores.columns)
    if reference not in (PER_RATER, FUSION):
        raise ValueError(f"reference must be {PER_RATER!r} or {FUSION!r}, got {reference!r}")
    ref = scores["reference"].astype(str)
    rows = scores[ref.str.startswith(RATER_PREFIX if reference == PER_RATER else FUSION_PREFIX)].copy()
    rows["characteristic"] = rows["characteristic"].astype(str)
    rows["image"] = rows["image"].astype(str)
    for m in cols:
        rows[m] = rows[m].astype("float64")
    return rows.groupby(["characteristic", "image"], sort=True)[cols].mean()


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p values (None kept as None and not counted).

    Sorted ascending, the k-th smallest of m becomes ``max_{j <= k} min(1, (m - j + 1) p_(j))``.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None]
    order = sorted(idx, key=lambda i: (p_values[i], i))
    m = len(order)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def wilcoxon_p(d: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of the differences ``d`` (None: no value; 1: all zero)."""
    from scipy.stats import wilcoxon

    if d.size == 0:
        return None
    if not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d).pvalue)


def compare_one(
    a: pd.Series, b: pd.Series, characteristic: str, metric: str, *, seed: int = DEFAULT_SEED, n_boot: int = COMPARE_N_BOOT,
) -> PairedRow:
    """One characteristic and metric: ``a``/``b`` are per-image values indexed by image."""
    both = a.dropna().index.intersection(b.dropna().index).sort_values()
    va = a.loc[both].to_numpy(np.float64)
    vb = b.loc[both].to_numpy(np.float64)
    d = va - vb
    boot = paired_bootstrap(dict(zip(both, va.tolist(), strict=True)), dict(zip(both, vb.tolist(), strict=True)),
                            seed=seed, n_boot=n_boot)
    n = int(d.size)
    p = wilcoxon_p(d)
    return PairedRow(
        characteristic=characteristic, metric=metric, n_images=n,
        mean_a=float(va.mean()) if n else None, mean_b=float(vb.mean()) if n else None,
        difference=boot.difference, ci_low=boot.ci_low, ci_high=boot.ci_high,
        wilcoxon_p=p, holm_p=p,
        a_wins=float(np.mean(d > 0)) if n else None, b_wins=float(np.mean(d < 0)) if n else None,
    )


def compare_values(
    a: pd.DataFrame, b: pd.DataFrame, characteristics: Sequence[str], metrics: Sequence[str], *,
    seed: int = DEFAULT_SEED, n_boot: int = COMPARE_N_BOOT,
) -> list[PairedRow]:
    """Every characteristic x metric of two :func:`per_image_values` tables, with Holm's
    correction across the characteristics (the union apart) of each metric."""
    import pandas as pd

    empty = pd.Series(dtype=np.float64)

    def column(frame: pd.DataFrame, ch: str, m: str) -> pd.Series:
        if ch not in frame.index.get_level_values(0):
            return empty
        return frame.xs(ch, level="characteristic")[m]

    rows: list[PairedRow] = []
    for m in metrics:
        block = [compare_one(column(a, ch, m), column(b, ch, m), ch, m, seed=seed, n_boot=n_boot)
                 for ch in characteristics]
        counted = [i for i, r in enumerate(block) if r.characteristic != UNION]
        adjusted = holm([block[i].wilcoxon_p for i in counted])
        for i, p in zip(counted, adjusted, strict=True):
            block[i] = block[i].model_copy(update={"holm_p": p})
        rows.extend(block)
    return rows
