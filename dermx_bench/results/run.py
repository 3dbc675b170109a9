"""A scoring run's summary: ``summary.json``, what ``score_run`` returns and ``summary.md`` shows."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from dermx_bench.core.names import PAIRWISE
from dermx_bench.results.analyses import AsDermatologist
from dermx_bench.results.entry import Bootstrap, Submission
from dermx_bench.results.figures import (
    Count,
    Diagnosis,
    HumanBaseline,
    Localisation,
    ResultModel,
    Stat,
)


class AllZeroMaps(ResultModel):
    """Maps that are zero everywhere: how many, which images, and per characteristic."""

    n: Count
    images: list[str]
    by_characteristic: dict[str, Count]


class ConstantMaps(ResultModel):
    """Maps with one value everywhere (all-zero maps included): how many and which images.

    What each metric gives such a map is its constant-map policy (docs/metrics.md)."""

    n: Count
    images: list[str]


class SkippedPhotographs(ResultModel):
    """Images left out with ``--skip-missing``: counts per problem, and image -> problem."""

    n: Count
    by_problem: dict[str, Count]
    images: dict[str, str]


class ExcludedImages(ResultModel):
    """Images that cannot be explained for their gold diagnosis: image -> reason."""

    n: Count
    images: dict[str, str]


class RunSummary(ResultModel):
    """Everything a run found, in the order ``summary.json`` lists it.

    ``localisation``, ``diagnosis`` and ``human_baseline`` are the entry's figures;
    ``figures_version`` and ``compared_with`` say which rules made them and which human
    reference ``localisation.<c>.baseline`` is (summaries written before these fields were
    figures version 1, compared with the pairwise table); the rest says what was scored
    and what was left out (``n_images`` of the ``n_reference_images`` a complete run
    scores: the coverage). ``limit``: the ``--limit`` of a quick partial run
    (None for a run of every image).
    ``as_dermatologist``: the model's F1 against the raters' fusion
    placed among the dermatologists' own (:mod:`dermx_bench.stats.equivalence`).
    """

    name: str
    submission: Submission
    weights_sha256: str
    store_hash: str
    method: str
    target: str
    device: str
    memory_format: str | None
    batch_size: int
    started_at: str
    n_images: Count
    n_reference_images: Count
    n_score_rows: Count
    all_zero_maps: AllZeroMaps
    constant_maps: ConstantMaps | None = None
    skipped_photographs: SkippedPhotographs
    excluded_images: ExcludedImages
    images_without_gold: Count
    bootstrap: Bootstrap
    localisation: dict[str, Localisation]
    diagnosis: Diagnosis
    human_baseline: HumanBaseline
    overlays: list[str]
    figures_version: Annotated[int, Field(ge=1, strict=True)] = 1
    compared_with: str = PAIRWISE
    limit: Count | None = None
    as_dermatologist: list[AsDermatologist] | None = None

    @property
    def partial(self) -> bool:
        """Fewer images scored than a complete run scores (a ``--limit`` run, skipped photographs, ...)."""
        return self.n_images < self.n_reference_images



class RescoreFigures(ResultModel):
    """One characteristic (or ``union``) of a rescore: per chosen metric, the model's figure
    per rater and against the fusion, the like-for-like human reference's (per rater and
    against the leave-one-out fusion) and each trivial-map floor's per-rater figure, all on
    the same images with the same fusion rule (None: not computed)."""

    n_images: Count
    per_rater: dict[str, Stat | None]
    fusion: dict[str, Stat | None]
    reference: dict[str, Stat | None]
    reference_fusion: dict[str, Stat | None]
    floors: dict[str, dict[str, Stat | None]]


class RescoreSummary(ResultModel):
    """What ``dermx-bench rescore`` wrote to ``summary.json`` (see :mod:`dermx_bench.harness.rescore`).

    ``fusion``: the rule of the ``fusion:`` rows; ``metrics``: the metrics reported;
    ``min_kappa``: the per-image Fleiss kappa an image needed (None: no filter) and
    ``excluded_by_kappa`` the images it left out; ``constant_maps``: scored maps with one
    value everywhere; ``floors``: name -> what the trivial map is.
    """

    name: str
    method: str
    store_hash: str
    fusion: str
    metrics: list[str]
    min_kappa: float | None
    n_images: Count
    excluded_by_kappa: ExcludedImages
    constant_maps: ConstantMaps
    bootstrap: Bootstrap
    floors: dict[str, str]
    localisation: dict[str, RescoreFigures]
