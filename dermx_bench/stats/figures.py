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
:func:`~dermx_bench.stats.estimators.compare` of the per-rater mean with the **pairwise
rater-to-rater table** of METHODS §6 (``human_baseline.localisation``), ``diagnosis`` from
``predictions.csv`` by :func:`~dermx_bench.stats.diagnosis.predictions_diagnosis` (the rule
runs have used since version 1; re-checked from entry schema 3 on, which keeps
``predictions.csv``).

Version 2: as version 1, but ``baseline`` and ``vs_baseline`` are the **like-for-like
human reference** of METHODS §8 (``human_baseline.like_for_like.<c>.per_rater``: each
rater's own explanation scored exactly as a model's map). Entries of version 1 are still
re-checked with version 1's rules and labelled "compared with the pairwise rater-to-rater
table".

Version 3: as version 2, plus the localisation metrics of METHODS §9 (best_dice, best_iou,
spearman, pointing_game, auroc, relevance_mass, relevance_rank: ``scores.csv`` columns of
the same names) in every figure, per-image union score and comparison with the reference
(the like-for-like reference's own value of each metric, where the saved baseline has it);
``diagnosis`` adds each class's one-vs-rest AUROC and the macro mean from the ``p:<class>``
probability columns of ``predictions.csv``
(:func:`~dermx_bench.stats.diagnosis.predictions_diagnosis_auroc`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dermx_bench.core.errors import DermxError
from dermx_bench.core.names import (
    ALL_METRIC_NAMES,
    LEGACY_PREDICTION_COLUMNS,
    LIKE_FOR_LIKE,
    METRIC_NAMES,
    PAIRWISE,
    PREDICTION_COLUMNS,
)
from dermx_bench.results.figures import (
    Comparison,
    Diagnosis,
    HumanBaseline,
    ImageScores,
    LocalisationScores,
    MetricStats,
)
from dermx_bench.stats.aggregate import Order, aggregate_scores, per_image_union
from dermx_bench.stats.diagnosis import predictions_diagnosis, predictions_diagnosis_auroc
from dermx_bench.stats.estimators import compare

if TYPE_CHECKING:
    import pandas as pd


def pairwise_reference(human: HumanBaseline) -> Mapping[str, MetricStats]:
    """The pairwise rater-to-rater table (METHODS §6) per characteristic."""
    return human.localisation


def like_for_like_reference(human: HumanBaseline) -> Mapping[str, MetricStats]:
    """The like-for-like reference's per-rater figures (METHODS §8) per characteristic;
    ValueError when ``human`` has none (saved by an older dermx-bench)."""
    if human.like_for_like is None:
        raise ValueError("the human baseline has no like-for-like reference (saved by an older dermx-bench)")
    return {c: s.per_rater for c, s in human.like_for_like.items()}


REFERENCE_LABELS: Mapping[str, str] = {
    PAIRWISE: "the pairwise rater-to-rater table (METHODS §6)",
    LIKE_FOR_LIKE: "the like-for-like human reference (METHODS §8)",
}
"""How each human reference is named where an entry says what it was compared with."""


@dataclass(frozen=True)
class FigureRules:
    """The rules of one figures version (see the module docstring).

    ``reference``: the human reference ``vs_baseline`` compares with
    (:data:`~dermx_bench.core.names.HUMAN_REFERENCES`); ``reference_stats`` picks its
    figures per characteristic from an entry's ``human_baseline``; ``metrics``: the
    localisation metrics the figures hold (``scores.csv`` columns); ``prediction_columns``:
    the leading columns of ``predictions.csv`` (then ``p:<class>`` columns, if any).
    """

    version: int
    localisation: Callable[[pd.DataFrame, int, int, Order | None], dict[str, LocalisationScores]]
    per_image_union: Callable[[pd.DataFrame], dict[str, ImageScores]]
    compare: Callable[[float | None, float | None], Comparison]
    diagnosis: Callable[[pd.DataFrame, Sequence[str], Order], Diagnosis] = predictions_diagnosis
    reference: str = PAIRWISE
    reference_stats: Callable[[HumanBaseline], Mapping[str, MetricStats]] = pairwise_reference
    metrics: tuple[str, ...] = METRIC_NAMES
    prediction_columns: tuple[str, ...] = LEGACY_PREDICTION_COLUMNS


FIGURE_RULES: dict[int, FigureRules] = {
    1: FigureRules(1, aggregate_scores, per_image_union, compare, reference=PAIRWISE,
                   reference_stats=pairwise_reference),
    2: FigureRules(2, aggregate_scores, per_image_union, compare, reference=LIKE_FOR_LIKE,
                   reference_stats=like_for_like_reference),
    3: FigureRules(3, functools.partial(aggregate_scores, metrics=ALL_METRIC_NAMES),
                   functools.partial(per_image_union, metrics=ALL_METRIC_NAMES), compare,
                   diagnosis=predictions_diagnosis_auroc, reference=LIKE_FOR_LIKE,
                   reference_stats=like_for_like_reference, metrics=ALL_METRIC_NAMES,
                   prediction_columns=PREDICTION_COLUMNS),
}
"""The figures versions this code can compute, by number."""

FIGURES_VERSION = 3
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
