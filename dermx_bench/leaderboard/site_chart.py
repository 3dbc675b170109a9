"""The SVG interval chart of an entry page: per characteristic, the model's figure with its
bootstrap interval beside the dermatologists' (band) and the trivial-map floors (ticks).

Coordinates are SVG pixels; values in [0, 1] map linearly onto the plot's width.
"""

from __future__ import annotations

from typing import Any

from dermx_bench.core.names import UNION
from dermx_bench.leaderboard.board import FLOOR_PREFIX, METRIC_LABEL, fmt_num
from dermx_bench.results.entry import Entry
from dermx_bench.results.figures import LocalisationScores, Stat

_LABEL_W = 190
_PLOT_W = 420


def _x(v: float) -> float:
    return round(_LABEL_W + max(0.0, min(1.0, v)) * _PLOT_W, 2)


def _band(s: Stat | None) -> tuple[float, float] | None:
    if s is None or s.mean is None:
        return None
    if s.ci_low is not None and s.ci_high is not None:
        return s.ci_low, s.ci_high
    if s.std is not None:
        return s.mean - s.std, s.mean + s.std
    return None


def floor_metric(figures: dict[str, LocalisationScores], c: str, metric: str) -> Stat | None:
    return getattr(figures[c].per_rater, metric) if c in figures else None


def chart(entry: Entry, metric: str, characteristics: list[str]) -> dict[str, Any]:
    names = [UNION] + [c for c in characteristics if c in entry.localisation]
    bars = []
    top = 6
    for i, c in enumerate(names):
        loc = entry.localisation[c]
        model: Stat = getattr(loc.per_rater, metric)
        base: Stat | None = getattr(loc.baseline, metric)
        if base is None and c in entry.human_baseline.localisation:
            base = getattr(entry.human_baseline.localisation[c], metric)
        y = top + i * 24
        band = _band(base)
        whisker = None
        if model.ci_low is not None and model.ci_high is not None:
            whisker = {"x1": _x(model.ci_low), "x2": _x(model.ci_high)}
        label = "Union" if c == UNION else c
        title = (f"{label}: model {fmt_num(model.mean)} "
                 f"[{fmt_num(model.ci_low)}, {fmt_num(model.ci_high)}] over {model.n} images; "
                 f"dermatologists {fmt_num(base.mean if base else None)}"
                 + (f" [{band[0]:.3f}, {band[1]:.3f}]" if band else ""))
        floor_ticks = [{"x": _x(f.mean), "title": f"{FLOOR_PREFIX}{n}: {fmt_num(f.mean)}"}
                       for n, fl in (entry.human_baseline.floors or {}).items()
                       if (f := floor_metric(fl.localisation, c, metric)) is not None and f.mean is not None]
        bars.append({
            "floors": floor_ticks,
            "y": y, "label": label if len(label) <= 28 else label[:27] + "\u2026",
            "title": title,
            "bar": None if model.mean is None else round(_x(model.mean) - _LABEL_W, 2),
            "whisker": whisker,
            "band": None if band is None else {"x": _x(band[0]), "w": round(_x(band[1]) - _x(band[0]), 2)},
            "base": None if base is None or base.mean is None else _x(base.mean),
            "value": fmt_num(model.mean),
        })
    bottom = top + len(names) * 24
    return {
        "title": f"{METRIC_LABEL[metric]} per characteristic (averaged over raters)",
        "width": _LABEL_W + _PLOT_W + 60, "height": bottom + 22,
        "label_width": _LABEL_W, "x0": _LABEL_W, "x1": _LABEL_W + _PLOT_W,
        "top": top - 2, "bottom": bottom,
        "ticks": [{"x": _x(t), "label": f"{t:g}"} for t in (0, 0.25, 0.5, 0.75, 1.0)],
        "bars": bars,
    }
