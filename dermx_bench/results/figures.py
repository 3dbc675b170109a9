"""The figures that travel between stages: statistics, localisation rows, diagnoses.

Conventions (every model here):

- Every metric (``Stat.mean``, ``ci_low``, ``ci_high``, per-image values, accuracy, F1,
  sensitivity, specificity) lies in [0, 1]; ``None`` means undefined (METHODS §4: e.g.
  sensitivity against an empty reference). NaN and infinities are refused: write ``None``.
- Models are frozen and refuse unknown fields; ``model_dump()`` gives the JSON layout
  (fields in declaration order) that ``entry.json`` and ``summary.json`` are written in.
- Which estimator produced a :class:`Stat` is stated where it is made
  (:mod:`dermx_bench.stats.estimators`): a model's figures are means over images, the
  saved inter-rater baseline pools rater pairs over images.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WrapSerializer,
    field_validator,
    model_serializer,
    model_validator,
)

from dermx_bench.core.names import SALIENCY_METRIC_NAMES, SIGNED_METRICS

_EPS = 1e-9  # tolerance for sums of values in [0, 1] landing a hair outside


def _finite(v: float | None) -> float | None:
    if v is not None and not math.isfinite(v):
        raise ValueError("must be a finite number (write null for an undefined value)")
    return v


def _unit(v: float | None) -> float | None:
    _finite(v)
    if v is not None and not (-_EPS <= v <= 1 + _EPS):
        raise ValueError(f"must lie in [0, 1], got {v}")
    return v


def _signed(v: float | None) -> float | None:
    _finite(v)
    if v is not None and not (-1 - _EPS <= v <= 1 + _EPS):
        raise ValueError(f"must lie in [-1, 1], got {v}")
    return v


Finite = Annotated[float | None, AfterValidator(_finite)]
"""A float or null; NaN/inf refused."""
Unit = Annotated[float | None, AfterValidator(_unit)]
"""A float in [0, 1] or null."""
Signed = Annotated[float | None, AfterValidator(_signed)]
"""A float in [-1, 1] or null (a correlation: ``spearman``)."""
UnitReq = Annotated[float, AfterValidator(_unit)]
"""A float in [0, 1] (required)."""
Count = Annotated[int, Field(ge=0, strict=True)]
"""A non-negative integer (``true``/``1.0`` refused)."""


class ResultModel(BaseModel):
    """Base of every typed result: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Stat(ResultModel):
    """A metric aggregated over ``n`` values: mean, sample std and a bootstrap 95% interval.

    ``std`` is the sample std (ddof 1; None for fewer than 2 values); ``ci_low``/``ci_high``
    the 2.5 and 97.5 percentiles of bootstrap means (None when not computed). What ``n``
    counts (images, or rater pairs) depends on the estimator that made it: see
    :func:`dermx_bench.stats.estimators.image_stat` and
    :func:`~dermx_bench.stats.estimators.pooled_stat`.
    """

    mean: Unit
    std: Finite
    ci_low: Unit
    ci_high: Unit
    n: Count

    @field_validator("std")
    @classmethod
    def _std_non_negative(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"a standard deviation cannot be negative, got {v}")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Stat:
        if self.ci_low is not None and self.ci_high is not None and self.ci_low > self.ci_high + _EPS:
            raise ValueError(f"ci_low ({self.ci_low}) is above ci_high ({self.ci_high})")
        return self


EMPTY_STAT = Stat(mean=None, std=None, ci_low=None, ci_high=None, n=0)
"""The statistic of no defined value."""


class SignedStat(Stat):
    """A :class:`Stat` of a metric in [-1, 1] (``spearman``)."""

    mean: Signed
    ci_low: Signed
    ci_high: Signed


def stat_kind(metric: str) -> type[Stat]:
    """The statistic class of a metric's figures: :class:`SignedStat` for a metric in
    [-1, 1] (:data:`~dermx_bench.core.names.SIGNED_METRICS`), else :class:`Stat`."""
    return SignedStat if metric in SIGNED_METRICS else Stat


def _drop_absent(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """Serialise a model without its optional saliency fields that are None (absent).

    The metrics of METHODS §9 were added in entry schema 5 (figures version 3); an older
    entry has none of them and is written exactly as it was read.
    """
    out = handler(value)
    return {k: v for k, v in out.items() if not (k in SALIENCY_METRIC_NAMES + _NEW_DIAGNOSIS and v is None)}


_NEW_DIAGNOSIS = ("auroc", "macro_auroc", "n_constant_maps")


class _WithSaliency(ResultModel):
    """Base of the per-metric models: absent saliency metrics are left out when written."""

    @model_serializer(mode="wrap")
    def _serialise(self, handler: SerializerFunctionWrapHandler) -> Any:
        return _drop_absent(self, handler)


def _saved_order(value: Any, handler: SerializerFunctionWrapHandler) -> Any:
    """Serialise metric -> Stat with each Stat's keys sorted, the order a store keeps them in.

    The saved baseline comes out of the store as JSON with sorted keys, and entries and
    summaries have always carried its statistics that way; this keeps them byte-identical.
    """
    out = handler(value)
    return {m: (None if s is None else dict(sorted(s.items()))) for m, s in out.items()}


class MetricStats(_WithSaliency):
    """F1, sensitivity and specificity, each a :class:`Stat`; from figures version 3 also
    each metric of METHODS §9 (``spearman`` a :class:`SignedStat`; None: not computed)."""

    f1: Stat
    sensitivity: Stat
    specificity: Stat
    best_dice: Stat | None = None
    best_iou: Stat | None = None
    spearman: SignedStat | None = None
    pointing_game: Stat | None = None
    auroc: Stat | None = None
    relevance_mass: Stat | None = None
    relevance_rank: Stat | None = None


SavedMetricStats = Annotated[MetricStats, WrapSerializer(_saved_order)]
""":class:`MetricStats` taken from a saved baseline (written with sorted keys)."""


class BaselineStats(_WithSaliency):
    """The inter-rater baseline of one characteristic (``None`` where none was saved).

    Written with each Stat's keys sorted (see :class:`SavedMetricStats`).
    """

    f1: Stat | None
    sensitivity: Stat | None
    specificity: Stat | None
    best_dice: Stat | None = None
    best_iou: Stat | None = None
    spearman: SignedStat | None = None
    pointing_game: Stat | None = None
    auroc: Stat | None = None
    relevance_mass: Stat | None = None
    relevance_rank: Stat | None = None


SavedBaselineStats = Annotated[BaselineStats, WrapSerializer(_saved_order)]


class Comparison(ResultModel):
    """A figure against a reference: ``difference`` = figure − reference, ``ratio`` = figure /
    reference (None when either is undefined; ``ratio`` also when the reference is 0).

    Made by :func:`dermx_bench.stats.estimators.compare`, the one comparison rule.
    """

    difference: Finite
    ratio: Finite


class VsBaseline(_WithSaliency):
    f1: Comparison
    sensitivity: Comparison
    specificity: Comparison
    best_dice: Comparison | None = None
    best_iou: Comparison | None = None
    spearman: Comparison | None = None
    pointing_game: Comparison | None = None
    auroc: Comparison | None = None
    relevance_mass: Comparison | None = None
    relevance_rank: Comparison | None = None


class LocalisationScores(ResultModel):
    """A model's localisation figures for one characteristic (or the union), from ``scores.csv``.

    ``n_images``: images with any row for it; ``per_rater``: per image the mean over the
    raters who drew it, then :func:`~dermx_bench.stats.estimators.image_stat` over images;
    ``fusion``: the same over each image's single fusion row.
    """

    n_images: Count
    per_rater: MetricStats
    fusion: MetricStats


class Localisation(LocalisationScores):
    """:class:`LocalisationScores` beside the human reference of the same characteristic.

    ``baseline``: the reference the entry was compared with (``Entry.compared_with``): for
    figures version 2 on, the like-for-like reference's per-rater figures
    (``human_baseline.like_for_like.<c>.per_rater``); for figures version 1, the pairwise
    rater-to-rater table (``human_baseline.localisation.<c>``). ``vs_baseline.<metric>``
    compares ``per_rater.<metric>.mean`` with ``baseline.<metric>.mean``.
    """

    baseline: SavedBaselineStats
    vs_baseline: VsBaseline


class ImageScores(_WithSaliency):
    """Union-of-characteristics scores of one image (averaged over raters); the metrics of
    METHODS §9 from figures version 3 (absent before; None also where undefined)."""

    f1: Unit
    sensitivity: Unit
    specificity: Unit
    best_dice: Unit = None
    best_iou: Unit = None
    spearman: Signed = None
    pointing_game: Unit = None
    auroc: Unit = None
    relevance_mass: Unit = None
    relevance_rank: Unit = None


class ClassScores(_WithSaliency):
    """One-vs-rest diagnostic scores of one disease over ``n`` images of it; ``auroc``
    (figures version 3 on): the model's probability of the disease as a one-vs-rest
    classifier over every image with a gold diagnosis (None: undefined or not computed)."""

    f1: Unit
    sensitivity: Unit
    specificity: Unit
    n: Count
    auroc: Unit = None


class Confusion(ResultModel):
    """Confusion matrix: ``matrix[i][j]`` = images of gold ``labels[i]`` predicted ``labels[j]``."""

    labels: list[str]
    matrix: list[list[Count]]

    @model_validator(mode="after")
    def _square(self) -> Confusion:
        k = len(self.labels)
        if len(set(self.labels)) != k:
            raise ValueError("labels must be distinct")
        if len(self.matrix) != k or any(len(row) != k for row in self.matrix):
            raise ValueError(f"matrix must be {k}x{k} to match the {k} labels")
        return self


class Diagnosis(_WithSaliency):
    """A model's diagnostic performance (see :func:`dermx_bench.stats.diagnosis.diagnosis_scores`).

    ``macro_auroc`` (figures version 3 on): the mean of the classes' one-vs-rest AUROC
    where defined (Young et al.); None when no class has one, or not computed.
    """

    accuracy: UnitReq
    macro_f1: UnitReq
    per_class: dict[str, ClassScores]
    confusion: Confusion
    macro_auroc: Unit = None


class HumanDiagnosis(ResultModel):
    """The dermatologists against the gold diagnosis: accuracy and macro F1 (mean over raters)."""

    accuracy: UnitReq
    macro_f1: UnitReq


class FloorScores(ResultModel):
    """A trivial map (e.g. ones everywhere) scored on every image exactly as a model's map.

    ``description`` says what the map is; ``localisation`` per characteristic (and
    ``union``) is what the metric gives it for free.
    """

    description: str = Field(min_length=1)
    localisation: dict[str, LocalisationScores]


class HumanBaseline(ResultModel):
    """The dermatologists, on the same columns as the entries, and the trivial-map floors.

    - ``localisation``: the pairwise rater-to-rater agreement of METHODS §6 (DermX Table
      3b: a rater's mask of c against another's, pairs where at least one drew c), pooled
      over rater pairs. It measures how raters agree; it is not a reference for a model.
    - ``diagnosis``: the dermatologists against the gold diagnosis.
    - ``like_for_like`` (entry schema 4 on): the like-for-like human reference of METHODS
      §8 (each rater's own explanation scored exactly as a model's map), per
      characteristic, with ``n_images``, ``per_rater`` and ``fusion`` as a model's figures.
    - ``floors`` (entry schema 4 on): trivial maps scored the same way, by name
      (``ones``, ``gaussian``, ``zeros``).
    """

    localisation: dict[str, SavedMetricStats]
    diagnosis: HumanDiagnosis
    like_for_like: dict[str, LocalisationScores] | None = None
    floors: dict[str, FloorScores] | None = None


class PairedResult(ResultModel):
    """Paired bootstrap of the mean per-image difference ``upper − lower`` over shared images.

    ``difference`` is the observed mean difference (None when no image is shared);
    ``ci_low``/``ci_high``/``p_value`` are None with fewer than 2 shared images.
    Made by :func:`dermx_bench.stats.estimators.paired_bootstrap`.
    """

    n_images: Count
    difference: Finite
    ci_low: Finite
    ci_high: Finite
    p_value: Finite

    def significant(self, alpha: float) -> bool | None:
        return None if self.p_value is None else self.p_value < alpha
