"""Typed results of the analyses of runs: paired comparisons, strata, sanity checks, and a
model placed among the dermatologists (issue 10).

Scores differences are not in [0, 1] (they lie in [-1, 1]); p values and shares are.
"""

from __future__ import annotations

from typing import Literal

from dermx_bench.results.figures import Count, Finite, ResultModel, Signed, SignedStat, Stat, Unit

PER_RATER = "per-rater"
"""Per image, the mean over the raters who drew the characteristic (the headline figure)."""
FUSION = "fusion"
"""Per image, the score against the raters' fusion."""
REFERENCE_KINDS: tuple[str, str] = (PER_RATER, FUSION)


class PairedRow(ResultModel):
    """Run A against run B on one characteristic and metric, paired on the images both scored.

    ``difference`` = mean over images of A − B, with the paired image-bootstrap 95% interval
    (:func:`dermx_bench.stats.estimators.paired_bootstrap`); ``wilcoxon_p``: the two-sided
    Wilcoxon signed-rank p (scipy; 1 when every difference is 0); ``holm_p``: that p after
    Holm's correction across the characteristics (the union apart) of the same metric;
    ``a_wins``/``b_wins``: the share of images where A (B) scores strictly higher.
    """

    characteristic: str
    metric: str
    n_images: Count
    mean_a: Signed
    mean_b: Signed
    difference: Finite
    ci_low: Finite
    ci_high: Finite
    wilcoxon_p: Unit
    holm_p: Unit
    a_wins: Unit
    b_wins: Unit


class RunComparison(ResultModel):
    """``dermx-bench compare``: every characteristic x metric of two runs on their shared images."""

    run_a: str
    run_b: str
    name_a: str
    name_b: str
    reference: Literal["per-rater", "fusion"]
    n_shared_images: Count
    n_only_a: Count
    n_only_b: Count
    bootstrap_n: Count
    bootstrap_seed: int
    rows: list[PairedRow]


class StratumRow(ResultModel):
    """One stratum (e.g. skin tone ``dark``) of one characteristic and metric: the metric's
    :class:`~dermx_bench.results.figures.Stat` over the stratum's images; ``few`` when it has
    fewer images than the minimum (its figure is shown, with a warning)."""

    by: str
    stratum: str
    characteristic: str
    metric: str
    stat: Stat | SignedStat
    few: bool


class StrataTest(ResultModel):
    """The test across the strata of one grouping, characteristic and metric: Kruskal-Wallis H
    (scipy.stats.kruskal) over the strata's per-image values; None with fewer than two strata
    with values (or all values equal)."""

    by: str
    characteristic: str
    metric: str
    n_strata: Count
    statistic: Finite
    p_value: Unit


class StrataAnalysis(ResultModel):
    """``dermx-bench analyse``: per grouping, stratum, characteristic and metric."""

    run: str
    name: str
    reference: Literal["per-rater", "fusion"]
    by: list[str]
    min_n: Count
    test: str
    rows: list[StratumRow]
    tests: list[StrataTest]
    warnings: list[str]


class SanityStage(ResultModel):
    """One stage of the cascading model randomisation: the layers randomised so far (from the
    top) and the similarity of the randomised maps to the original maps, per image then
    averaged: SSIM (scikit-image, data range 1) and Spearman rank correlation."""

    stage: Count
    layers: list[str]
    ssim: Finite
    spearman: Finite
    ssim_per_image: list[Finite]
    spearman_per_image: list[Finite]


class SanityResult(ResultModel):
    """``dermx-bench sanity``: the model randomisation test (Adebayo et al. 2018).

    ``repeat_ssim``: the original maps computed twice (1 when deterministic). ``passed``: the
    maps depend on the weights: after randomising every stage, the mean SSIM is below
    ``ssim_threshold``.
    """

    name: str
    method: str
    images: list[str]
    seed: int
    repeat_ssim: Finite
    repeat_spearman: Finite
    stages: list[SanityStage]
    ssim_threshold: float
    passed: bool


class AsDermatologist(ResultModel):
    """The model as one more dermatologist on one characteristic (or the union), F1 against
    the fusion of the raters.

    ``model``: the model's mean over images (against all raters' fusion); ``raters``: each
    dermatologist's like-for-like figure (their own outline against the fusion of the
    others, mean over images); ``percentile``: the share of raters below the model, ties
    counting half, x 100 (scipy.stats.percentileofscore, kind "mean"); ``tost_p``: the
    two one-sided Welch t tests of whether the model's mean lies within ``margin`` of the
    like-for-like reference's mean (equivalent when below 0.05).
    """

    characteristic: str
    model: Unit
    reference: Unit
    raters: dict[str, Unit]
    percentile: Finite
    margin: float
    tost_p: Unit
    equivalent: bool | None


class SeedStat(ResultModel):
    """One metric across the runs of a submission trained with different seeds: each run's
    figure (mean over images, image-bootstrap interval) and, across runs, mean ± sample sd."""

    mean: Unit
    sd: Finite
    runs: list[Stat]


class SeedSummary(ResultModel):
    """An entry's runs with different seeds (its own first): per union metric, a :class:`SeedStat`."""

    n_runs: Count
    metrics: dict[str, SeedStat]
