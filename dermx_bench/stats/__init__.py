"""Statistics, in one place.

- :mod:`~dermx_bench.stats.estimators`: every estimator behind a published figure (mean
  over images vs pooled over pairs, ddof), the image, cluster and paired bootstraps, and
  the one comparison rule (difference and ratio);
- :mod:`~dermx_bench.stats.aggregate`: a run's ``scores.csv`` -> figures per characteristic;
- :mod:`~dermx_bench.stats.figures`: figures versions, the rules each version computes with.
"""
