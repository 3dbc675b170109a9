"""The inter-rater baseline that model scores are placed beside (METHODS.md §6, §8).

Bootstrap intervals over images, the baseline document built from the agreement tables,
and saving/loading it in the store together with the tables, the options used and the
store's content hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from dermx_bench.consensus.agreement import (
    METRIC_NAMES,
    TABLES,
    AgreementTable,
    OnImage,
    compute_tables,
    mean_std,
)
from dermx_bench.consensus.fusion import DEFAULT_RULE
from dermx_bench.core.errors import StoreError
from dermx_bench.core.files import json_ready
from dermx_bench.store.db import Store

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BASELINE_KEY = "baseline"


def bootstrap_ci(
    values: np.ndarray, groups: np.ndarray, n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED, level: float = 0.95,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the pooled mean, resampling groups (images).

    ``values``: float array (NaN = undefined, dropped); ``groups``: the group label of each
    value. Each resample draws as many groups as there are (with replacement) and pools
    all their values. Vectorised: one (n_resamples, n_groups) count matrix.
    """
    v = np.asarray(values, np.float64)
    ok = ~np.isnan(v)
    if not ok.any():
        return None, None
    _, g = np.unique(np.asarray(groups)[ok], return_inverse=True)
    n_groups = int(g.max()) + 1
    sums = np.bincount(g, weights=v[ok], minlength=n_groups)
    counts = np.bincount(g, minlength=n_groups).astype(np.float64)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n_groups, size=(n_resamples, n_groups))
    flat = (draw + (np.arange(n_resamples) * n_groups)[:, None]).ravel()
    w = np.bincount(flat, minlength=n_resamples * n_groups).reshape(n_resamples, n_groups).astype(np.float64)
    means = (w @ sums) / (w @ counts)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def stat(values: np.ndarray, groups: np.ndarray, ddof: int = 1, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """``{"mean", "std", "ci_low", "ci_high", "n"}`` of the defined values (None if undefined)."""
    v = np.asarray(values, np.float64)
    mean, std = mean_std(v, ddof)
    lo, hi = bootstrap_ci(v, groups, seed=seed)
    return {"mean": json_ready(mean), "std": json_ready(std), "ci_low": lo, "ci_high": hi,
            "n": int((~np.isnan(v)).sum())}


def baseline_from_tables(tables: Sequence[AgreementTable], store_hash: str) -> dict[str, Any]:
    """The baseline document :func:`load_baseline` returns, from computed tables
    (needs ``diagnosis-gold``, ``localisation`` and ``leave-one-out``)."""
    by = {t.table: t for t in tables}
    loc, loo, dx = by["localisation"], by["leave-one-out"], by["diagnosis-gold"]
    localisation: dict[str, Any] = {}
    if loc.detail is not None and len(loc.detail):
        for name, g in loc.detail.groupby("name", sort=False):
            localisation[str(name)] = {m: stat(g[m].to_numpy(), g["image"].to_numpy()) for m in METRIC_NAMES}
    leave: dict[str, Any] = {}
    if loo.detail is not None and len(loo.detail):
        for key, g in loo.detail.groupby(["name", "rule"], sort=False):
            char, rule = cast(tuple[str, str], key)
            leave.setdefault(str(char), {})[str(rule)] = {
                m: stat(g[m].to_numpy(), g["image"].to_numpy()) for m in METRIC_NAMES
            }
    f1_means = dx.frame["f1_mean"].to_numpy(np.float64)
    f1_means = f1_means[~np.isnan(f1_means)]
    return {
        "store_hash": store_hash,
        "options": {"localisation_multi_diagnosis": loc.multi_diagnosis,
                    "diagnosis_multi_diagnosis": dx.multi_diagnosis, "fusion": DEFAULT_RULE},
        "localisation": localisation,
        "leave_one_out": leave,
        "diagnosis": {"accuracy": dx.counts.get("accuracy"),
                      "macro_f1": float(f1_means.mean()) if f1_means.size else None},
    }


def table_payload(t: AgreementTable) -> dict[str, Any]:
    """JSON-able form of a table: options, counts and rows (NaN -> null, unrounded)."""
    return {
        "table": t.table, "multi_diagnosis": t.multi_diagnosis, "counts": json_ready(t.counts),
        "columns": list(t.frame.columns),
        "rows": json_ready(t.frame.to_dict(orient="records")),
    }


def save_baselines(
    store: Store, saved_at: str, *, release: str | None = None, on_image: OnImage = None
) -> dict[str, Any]:
    """Compute every table with the published conventions and save them in the store.

    Saves ``("agreement", <table>)`` for each table and ``("agreement", "baseline")`` (the
    document :func:`load_baseline` returns), each with the options used and the store's
    content hash. Returns the baseline document.
    """
    store_hash = store.content_hash()
    tables = compute_tables(store, TABLES, None, release=release, on_image=on_image)
    baseline = baseline_from_tables(tables, store_hash)
    baseline["release"] = release
    baseline["saved_at"] = saved_at
    results: list[tuple[str, Any]] = []
    for t in tables:
        payload = table_payload(t)
        payload.update({"store_hash": store_hash, "release": release, "saved_at": saved_at})
        results.append((t.table, payload))
    results.append((BASELINE_KEY, baseline))
    store.save_results("agreement", results, saved_at)  # one transaction: all tables or none
    return baseline


def load_baseline(store: Store) -> dict[str, Any]:
    """The saved inter-rater baseline; StoreError if missing or the store changed since."""
    hint = f"run 'dermx-bench agreement --store {store.path} --save'"
    doc = store.load_result("agreement", BASELINE_KEY)
    if doc is None:
        raise StoreError(f"{store.path}: no inter-rater baseline saved; {hint}")
    if doc.get("store_hash") != store.content_hash():
        raise StoreError(
            f"{store.path}: the inter-rater baseline was saved for other store contents "
            f"(evaluations or metadata changed since); {hint} again"
        )
    return cast(dict[str, Any], doc)
