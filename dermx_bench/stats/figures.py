"""Figures versions: which rules computed an entry's figures from its ``scores.csv``.

An entry records its ``figures_version``. The leaderboard re-checks an entry with the
rules of that version, so that changing how figures are computed (a new estimator, a
different interval, another comparison with the baseline) never makes an older entry
look edited by hand. When rules change:

1. add the new rules as a new :class:`FigureRules` to :data:`FIGURE_RULES` and make
   :data:`FIGURES_VERSION` point at it;
2. keep the old version's rules there as long as the code can still compute them; when
   it cannot, move the version to :data:`RETIRED` with a line saying what changed (its
   entries are then reported as "made by version X, figures now computed differently").

Version 1 (dermx-bench 0.1): localisation per characteristic by
:func:`~dermx_bench.stats.aggregate.aggregate_scores` (means over images of the per-image
mean over raters, ddof 1, image bootstrap with ``default_rng(seed)``), per-image union
scores by :func:`~dermx_bench.stats.aggregate.per_image_union`, ``vs_baseline`` by
:func:`~dermx_bench.stats.estimators.compare`, ``diagnosis`` from ``predictions.csv`` by
:func:`~dermx_bench.stats.diagnosis.predictions_diagnosis` (the rule runs have used since
version 1; re-checked from entry schema 3 on, which keeps ``predictions.csv``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dermx_bench.core.errors import DermxError
from dermx_bench.results.figures import Comparison, Diagnosis, ImageScores, LocalisationScores
from dermx_bench.stats.aggregate import Order, aggregate_scores, per_image_union
from dermx_bench.stats.diagnosis import predictions_diagnosis
from dermx_bench.stats.estimators import compare

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class FigureRules:
    """The rules of one figures version (see the module docstring)."""

    version: int
    localisation: Callable[[pd.DataFrame, int, int, Order | None], dict[str, LocalisationScores]]
    per_image_union: Callable[[pd.DataFrame], dict[str, ImageScores]]
    compare: Callable[[float | None, float | None], Comparison]
    diagnosis: Callable[[pd.DataFrame, Sequence[str], Order], Diagnosis] = predictions_diagnosis


FIGURE_RULES: dict[int, FigureRules] = {
    1: FigureRules(1, aggregate_scores, per_image_union, compare),
}
"""The figures versions this code can compute, by number."""

FIGURES_VERSION = 1
"""The figures version new entries are made with."""

RETIRED: Mapping[int, str] = {}
"""Figures versions this code no longer computes: version -> what changed since."""


class FiguresVersionError(DermxError):
    """An entry's figures version cannot be re-checked here; ``str()`` says why (never tampering)."""


def figure_rules(version: int) -> FigureRules:
    """The rules of ``version``; :class:`FiguresVersionError` when retired or unknown."""
    if version in FIGURE_RULES:
        return FIGURE_RULES[version]
    if version in RETIRED:
        raise FiguresVersionError(
            f"made with figures version {version}; figures are now computed differently "
            f"(version {FIGURES_VERSION}: {RETIRED[version]}), so they cannot be re-checked here"
        )
    raise FiguresVersionError(
        f"made with figures version {version}, newer than this dermx-bench knows "
        f"(up to {max(FIGURE_RULES)}); upgrade dermx-bench to re-check it"
    )
