"""The leaderboard: entries on disk, published tables and the static site.

- :mod:`~dermx_bench.leaderboard.entries`: :func:`add_run`, :func:`validate`,
  :func:`load_entries` (entry files, the reproducibility check, store consistency);
- :mod:`~dermx_bench.leaderboard.ranking`: ranking by union F1 and the paired bootstrap;
- :mod:`~dermx_bench.leaderboard.tables`: Markdown, CSV and LaTeX tables;
- :mod:`~dermx_bench.leaderboard.site`: the static HTML site;
- :mod:`~dermx_bench.leaderboard.publish`: :func:`publish`, the format registry.
"""

from __future__ import annotations

from dermx_bench.leaderboard.entries import (
    AddResult,
    LeaderboardError,
    MixedStoreError,
    StoredEntry,
    ValidationReport,
    add_run,
    load_entries,
    validate,
)
from dermx_bench.leaderboard.publish import FORMATS, list_formats, publish

__all__ = [
    "FORMATS",
    "AddResult",
    "LeaderboardError",
    "MixedStoreError",
    "StoredEntry",
    "ValidationReport",
    "add_run",
    "list_formats",
    "load_entries",
    "publish",
    "validate",
]
