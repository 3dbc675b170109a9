"""The field's localisation metrics of a map against a binary mask (METHODS §9).

best_dice, best_iou, spearman, pointing_game, auroc, relevance_mass and relevance_rank,
as pure functions in a registry (:mod:`.metrics`, with each metric's empty-mask,
constant-map and all-zero-map policy), the per-image precomputation that makes scoring
many masks of one full-resolution map cheap, masks taken straight from COCO RLEs
(:mod:`.maps`), and the per-image and dataset-level best thresholds (:mod:`.thresholds`).
"""

from dermx_bench.masks.saliency.maps import THRESHOLD_STEPS, MapStats, MaskPixels, thresholds
from dermx_bench.masks.saliency.metrics import (
    SALIENCY_METRIC_NAMES,
    SaliencyScores,
    auroc,
    best_dice,
    best_iou,
    get_saliency_metric,
    list_saliency_metrics,
    pointing_game,
    relevance_mass,
    relevance_rank,
    score_binary_counts,
    score_mask,
    spearman,
    threshold_counts,
)
from dermx_bench.masks.saliency.thresholds import Best, DatasetBest, ThresholdCounts, dataset_best

__all__ = [
    "THRESHOLD_STEPS",
    "MapStats",
    "MaskPixels",
    "thresholds",
    "SALIENCY_METRIC_NAMES",
    "SaliencyScores",
    "auroc",
    "best_dice",
    "best_iou",
    "get_saliency_metric",
    "list_saliency_metrics",
    "pointing_game",
    "relevance_mass",
    "relevance_rank",
    "score_binary_counts",
    "score_mask",
    "spearman",
    "threshold_counts",
    "Best",
    "DatasetBest",
    "ThresholdCounts",
    "dataset_best",
]
