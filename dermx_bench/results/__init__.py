"""Typed results that travel between stages, defined once (pydantic v2, frozen).

- :mod:`~dermx_bench.results.figures`: a statistic with its interval (:class:`Stat`), a
  per-characteristic localisation row, per-image scores, diagnosis scores, the human
  baseline on the entries' columns, a paired comparison;
- :mod:`~dermx_bench.results.baseline`: the inter-rater baseline saved in a store;
- :mod:`~dermx_bench.results.entry`: the leaderboard entry (``entry.json``), versioned;
- :mod:`~dermx_bench.results.run`: a scoring run's summary (``summary.json``).

This stage sits just above ``core``: statistics produce these types, the consensus, the
harness and the leaderboard pass them on, and nothing here imports a higher stage.
"""
