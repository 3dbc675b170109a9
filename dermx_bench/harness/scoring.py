"""Scoring a model's explanation maps against the dermatologists (METHODS.md §8), and diagnoses.

Scoring a map is :func:`dermx_bench.consensus.map_scores.score_map` (re-exported here):
the one code path shared by a model's maps, the like-for-like human reference and the
trivial-map floors. The per-rater figure of the DermX protocol is the mean over the
``rater:`` rows of an image (see :mod:`dermx_bench.stats.aggregate`). Diagnostic
performance is :func:`dermx_bench.stats.diagnosis.diagnosis_scores`.
"""

from __future__ import annotations

from dermx_bench.consensus.map_scores import (
    ScoreRow,
    characteristics_of,
    fusion_reference,
    rater_reference,
    score_map,
)
from dermx_bench.stats.diagnosis import diagnosis_scores

__all__ = ["ScoreRow", "characteristics_of", "diagnosis_scores", "fusion_reference", "rater_reference", "score_map"]
