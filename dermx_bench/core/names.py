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

PAIRWISE = "pairwise"
"""The rater-to-rater localisation table of METHODS §6 (DermX Table 3b) used as the reference:
how raters agree on a characteristic (a rater who did not outline it scores 0 there)."""

LIKE_FOR_LIKE = "like-for-like"
"""The like-for-like human reference of METHODS §8: each rater's own explanation (the union of
what they outlined) scored exactly as a model's map."""

HUMAN_REFERENCES: tuple[str, str] = (PAIRWISE, LIKE_FOR_LIKE)
"""The references a model's figures can be compared with (``entry.compared_with``)."""
