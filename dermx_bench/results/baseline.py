"""The inter-rater baseline as saved in a store (``dermx-bench agreement --save``).

Made by :func:`dermx_bench.consensus.baseline.baseline_from_tables`; read by scoring runs
(to place a model beside the dermatologists) through
:func:`dermx_bench.consensus.baseline.load_baseline`.
"""

from __future__ import annotations

from dermx_bench.results.figures import (
    FloorScores,
    HumanBaseline,
    HumanDiagnosis,
    LocalisationScores,
    MetricStats,
    ResultModel,
    Stat,
    Unit,
)


class BaselineDiagnosis(ResultModel):
    """The dermatologists against the gold diagnosis (None when no rater had a gold image)."""

    accuracy: Unit
    macro_f1: Unit


class SavedBaseline(ResultModel):
    """The saved baseline document.

    - ``store_hash``: the store's content hash when it was saved (a changed store
      invalidates it);
    - ``options``: the conventions used (``localisation_multi_diagnosis``,
      ``diagnosis_multi_diagnosis``, ``fusion``), kept as the plain mapping they were
      saved as (scoring runs record it as the entry's ``store.baseline_options``);
    - ``localisation``: per characteristic (and ``union``), F1/sensitivity/specificity of
      the localisation table (rater-to-rater agreement, METHODS §6), pooled over ordered
      rater pairs (:func:`dermx_bench.stats.estimators.pooled_stat`);
    - ``leave_one_out``: per characteristic and fusion rule, each rater against the
      fusion of the others, pooled over (image, rater) scores;
    - ``diagnosis``: accuracy and macro F1 of the raters against the gold diagnosis;
    - ``like_for_like``: the like-for-like human reference of METHODS §8 per characteristic
      (each rater's own explanation scored as a model's map; means over images, image
      bootstrap), the default reference of scoring runs;
    - ``floors``: trivial maps scored the same way, by name;
    - ``like_for_like_raters`` (saved from issue 10 on; None before): per characteristic
      and rater, that rater's own outline against the fusion of the other raters, as a
      model's fusion figure (mean over images, no interval): the dermatologists a model is
      placed among (:mod:`dermx_bench.stats.equivalence`).
    """

    store_hash: str
    options: dict[str, str]
    localisation: dict[str, MetricStats]
    leave_one_out: dict[str, dict[str, MetricStats]]
    diagnosis: BaselineDiagnosis
    like_for_like: dict[str, LocalisationScores]
    floors: dict[str, FloorScores]
    like_for_like_raters: dict[str, dict[str, MetricStats]] | None = None
    release: str | None = None
    saved_at: str | None = None

    @property
    def localisation_multi_diagnosis(self) -> str:
        """The multi-diagnosis convention the localisation baseline was computed with."""
        return self.options.get("localisation_multi_diagnosis", "drop")

    def human(self) -> HumanBaseline:
        """The entries' ``human_baseline`` block; ValueError when the diagnosis figures are undefined."""
        dx = self.diagnosis
        if dx.accuracy is None or dx.macro_f1 is None:
            raise ValueError("the saved baseline has no diagnostic accuracy (no rater scored a gold image)")
        return HumanBaseline(
            localisation=self.localisation,
            diagnosis=HumanDiagnosis(accuracy=dx.accuracy, macro_f1=dx.macro_f1),
            like_for_like=self.like_for_like,
            floors=self.floors,
        )


NO_PAIRS = "no pairs"
"""What a table shows instead of the dermatologists' figure where they have no pair to agree on."""


def no_pairs_reason(f1: Stat | None) -> str | None:
    """Why the dermatologists have no pair that agrees on a characteristic, or None when they have one.

    ``f1``: the baseline's F1 of the characteristic. Undefined (no value): no image has
    two dermatologists who drew it. Exactly 0 over ``n > 0`` values: every pair scores 0,
    and a pair's F1 is 0 exactly when their outlines do not overlap: on every image only
    one dermatologist drew it (or their outlines are disjoint), so a 0.000 [0.000, 0.000]
    would read as a measured disagreement. Tables show :data:`NO_PAIRS` with this reason
    and leave the model's ratio to it (and its difference) empty.
    """
    if f1 is None or f1.mean is None or f1.n == 0:
        return "no image where two dermatologists outlined it"
    if f1.mean == 0.0:
        return ("no two dermatologists' outlines of it overlap on any image (only one outlined it, "
                "or theirs are disjoint)")
    return None
