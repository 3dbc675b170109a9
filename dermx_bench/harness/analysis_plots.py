"""Figures of the analyses (matplotlib Agg, PNG written atomically): strata and sanity checks."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.files import write_atomic
from dermx_bench.core.names import UNION
from dermx_bench.results.analyses import StrataAnalysis
from dermx_bench.stats.analysis_tables import pval


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    write_atomic(path, buf.getvalue())


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def strata_png(analysis: StrataAnalysis, path: str | Path, characteristic: str = UNION) -> None:
    """One panel per grouping: each metric's mean per stratum with its 95% interval (``characteristic``,
    default the union), the stratum's image count under its name (! under the minimum) and the
    test's p per metric in the legend."""
    groups = [b for b in analysis.by if any(r.by == b for r in analysis.rows)]
    fig = _figure(max(5.0, 4.2 * len(groups)), 3.8)
    axes = fig.subplots(1, max(1, len(groups)), squeeze=False)[0]
    tests = {(t.by, t.metric): t for t in analysis.tests if t.characteristic == characteristic}
    for ax, by in zip(axes, groups, strict=False):
        rows = [r for r in analysis.rows if r.by == by and r.characteristic == characteristic]
        strata = list(dict.fromkeys(r.stratum for r in rows))
        metrics = list(dict.fromkeys(r.metric for r in rows))
        x = np.arange(len(strata))
        width = 0.8 / max(1, len(metrics))
        for k, m in enumerate(metrics):
            cell = {r.stratum: r.stat for r in rows if r.metric == m}
            mean = np.array([np.nan if cell[s].mean is None else cell[s].mean for s in strata])
            lo = np.array([np.nan if cell[s].ci_low is None else cell[s].ci_low for s in strata])
            hi = np.array([np.nan if cell[s].ci_high is None else cell[s].ci_high for s in strata])
            t = tests.get((by, m))
            ax.errorbar(x + (k - (len(metrics) - 1) / 2) * width, mean,
                        yerr=np.nan_to_num(np.vstack([mean - lo, hi - mean])), fmt="o", capsize=3,
                        label=f"{m} (p {pval(None if t is None else t.p_value)})")
        counts = {r.stratum: r for r in rows if r.metric == metrics[0]} if metrics else {}
        ax.set_xticks(x, [f"{s}\nn={counts[s].stat.n}{'!' if counts[s].few else ''}" for s in strata],
                      fontsize=8, rotation=0 if len(strata) <= 4 else 30)
        ax.set_ylim(0, 1)
        ax.set_title(f"{characteristic} by {by.replace('_', ' ')}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{analysis.name}: mean and 95% interval per stratum ({analysis.reference})", fontsize=10)
    _save(fig, Path(path))


def sanity_png(path: str | Path, photos: Sequence[np.ndarray], maps: Sequence[Sequence[np.ndarray]],
               stage_titles: Sequence[str], title: str) -> None:
    """A grid: one row per image (its photograph, then its map at each stage: original first)."""
    n_rows, n_cols = len(photos), 1 + len(stage_titles)
    fig = _figure(1.6 * n_cols, 1.7 * n_rows + 0.5)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, photo in enumerate(photos):
        axes[i][0].imshow(photo)
        for j, m in enumerate(maps[i]):
            axes[i][j + 1].imshow(m, cmap="jet", vmin=0, vmax=1)
        for j, ax in enumerate(axes[i]):
            ax.set_axis_off()
            if i == 0:
                ax.set_title("photo" if j == 0 else stage_titles[j - 1], fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, Path(path))
