"""Names that cross stages, defined once: keys, metric names, reference prefixes, score columns.

Every stage that writes or reads one of these (scoring writes ``scores.csv``, statistics
aggregate it, the leaderboard re-checks it) imports it from here.
"""

from __future__ import annotations

UNION = "union"
"""The union of all localisable characteristics: a key beside the characteristics' names."""

METRIC_NAMES: tuple[str, str, str] = ("f1", "sensitivity", "specificity")
"""The fuzzy overlap metrics of METHODS §4, in report order."""

RATER_PREFIX = "rater:"
"""``reference`` of a ``scores.csv`` row scored against one rater's mask: ``rater:<name>``."""

FUSION_PREFIX = "fusion:"
"""``reference`` of a ``scores.csv`` row scored against a fusion: ``fusion:<rule>``."""

SALIENCY_METRIC_NAMES: tuple[str, ...] = (
    "best_dice", "best_iou", "spearman", "pointing_game", "auroc", "relevance_mass", "relevance_rank",
)
"""The field's localisation metrics of METHODS §9 (``dermx_bench.masks.saliency``), in report order."""

THRESHOLD_METRICS: tuple[str, ...] = ("best_dice", "best_iou")
"""The saliency metrics whose value comes with the threshold that gave it."""

THRESHOLD_SUFFIX = "_threshold"
"""``<metric>_threshold``: the ``scores.csv`` column of a :data:`THRESHOLD_METRICS` metric's threshold."""

SALIENCY_COLUMNS: tuple[str, ...] = tuple(
    c for m in SALIENCY_METRIC_NAMES for c in ((m, f"{m}{THRESHOLD_SUFFIX}") if m in THRESHOLD_METRICS else (m,))
)
"""The ``scores.csv`` columns of the saliency metrics (each threshold after its metric)."""

ALL_METRIC_NAMES: tuple[str, ...] = (*METRIC_NAMES, *SALIENCY_METRIC_NAMES)
"""Every localisation metric a run scores, in report order: the one list of metric columns
(``scores.csv``, figures, tables, ``--metric``, ``--rank-by``)."""

SIGNED_METRICS: tuple[str, ...] = ("spearman",)
"""Metrics whose values lie in [-1, 1] (every other metric lies in [0, 1])."""

SCORE_COLUMNS: tuple[str, ...] = (
    "image", "characteristic", "reference", *METRIC_NAMES, "map_sum", "reference_sum", "all_zero",
    *SALIENCY_COLUMNS,
)
"""The columns of ``scores.csv``, in file order (the saliency metrics last)."""

LEGACY_PREDICTION_COLUMNS: tuple[str, ...] = ("image", "gold", "target", "predicted", "all_zero", "map_sum")
"""The columns of ``predictions.csv`` written before figures version 3 (no probabilities)."""

PROBABILITY_PREFIX = "p:"
"""``p:<class>``: the ``predictions.csv`` column of the model's probability (softmax over the
diagnosis classes) for one diagnosis class."""

PREDICTION_COLUMNS: tuple[str, ...] = (*LEGACY_PREDICTION_COLUMNS, "constant")
"""The leading columns of ``predictions.csv`` (one row per image scored; ``gold`` empty when
unknown; ``constant``: the map has one value everywhere, all-zero maps included), followed by
one ``p:<class>`` column per diagnosis class."""

SCORE_INFO_COLUMNS: tuple[str, ...] = (
    "image", "characteristic", "reference", "map_sum", "reference_sum", "all_zero",
    *(f"{m}{THRESHOLD_SUFFIX}" for m in THRESHOLD_METRICS),
)
"""The columns of ``scores.csv`` that are no per-image metric: every other column is one
(:func:`dermx_bench.stats.paired.metric_columns`), so analyses take up new metric columns."""

STRATA: tuple[str, ...] = ("disease", "correct", "skin_tone", "age")
"""The groupings of images a run can be analysed by (``dermx-bench analyse --by``), in report order."""

IGNORE_CLASS = "ignore"
"""A submission's class that is no diagnosis: its output is never predicted nor explained."""

PAIRWISE = "pairwise"
"""The rater-to-rater localisation table of METHODS §6 (DermX Table 3b) used as the reference:
how raters agree on a characteristic (a rater who did not outline it scores 0 there)."""

LIKE_FOR_LIKE = "like-for-like"
"""The like-for-like human reference of METHODS §8: each rater's own explanation (the union of
what they outlined) scored exactly as a model's map."""

HUMAN_REFERENCES: tuple[str, str] = (PAIRWISE, LIKE_FOR_LIKE)
"""The references a model's figures can be compared with (``entry.compared_with``)."""
