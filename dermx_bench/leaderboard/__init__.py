"""The leaderboard: entries on disk, published tables and the static site.

- :mod:`~dermx_bench.leaderboard.entries`: :func:`add_run`, :func:`load_entries` (entry
  files, store consistency);
- :mod:`~dermx_bench.leaderboard.recheck`: an entry's figures re-computed from its scores
  with the rules of its figures version;
- :mod:`~dermx_bench.leaderboard.validate`: :func:`validate`, every entry checked;
- :mod:`~dermx_bench.leaderboard.ranking`: ranking by union F1 and the paired test;
- :mod:`~dermx_bench.leaderboard.board`: the rows every format shows;
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
    add_run,
    load_entries,
)
from dermx_bench.leaderboard.publish import FORMATS, list_formats, publish
from dermx_bench.leaderboard.validate import ValidationReport, validate

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
