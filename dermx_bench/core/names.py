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

SCORE_COLUMNS: tuple[str, ...] = (
    "image", "characteristic", "reference", *METRIC_NAMES, "map_sum", "reference_sum", "all_zero",
)
"""The columns of ``scores.csv``, in file order."""

PREDICTION_COLUMNS: tuple[str, ...] = ("image", "gold", "target", "predicted", "all_zero", "map_sum")
"""The columns of ``predictions.csv`` (one row per image scored; ``gold`` empty when unknown)."""

IGNORE_CLASS = "ignore"
"""A submission's class that is no diagnosis: its output is never predicted nor explained."""
