"""The human baseline that model scores are placed beside (METHODS.md §6, §8).

The baseline (:class:`~dermx_bench.results.baseline.SavedBaseline`) built from the
agreement tables, and saving/loading it in the store together with the tables, the
options used and the store's content hash: the like-for-like human reference and the
trivial-map floors (scored as a model's map: means over images), the rater-to-rater
tables (pooled over rater pairs, :func:`dermx_bench.stats.estimators.pooled_stat`) and the
diagnostic accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import ValidationError

from dermx_bench.consensus.agreement import TABLES, compute_tables
from dermx_bench.consensus.agreement_table import AgreementTable, OnImage, table_payload
from dermx_bench.consensus.floors import FLOORS_TABLE, get_floor, list_floors
from dermx_bench.consensus.fusion import DEFAULT_RULE
from dermx_bench.consensus.human_reference import rater_figures
from dermx_bench.core.errors import StoreError
from dermx_bench.core.names import LIKE_FOR_LIKE, METRIC_NAMES, UNION
from dermx_bench.results.baseline import BaselineDiagnosis, SavedBaseline
from dermx_bench.results.figures import FloorScores, MetricStats
from dermx_bench.stats.estimators import pooled_stat
from dermx_bench.store.db import Store

BASELINE_KEY = "baseline"


def _pooled(g: pd.DataFrame) -> MetricStats:
    """Each metric of a detail table's rows pooled over its rows, bootstrapped by image."""
    return MetricStats.model_validate({m: pooled_stat(g[m].to_numpy(), g["image"].to_numpy()) for m in METRIC_NAMES})


def baseline_from_tables(tables: Sequence[AgreementTable], store_hash: str) -> SavedBaseline:
    """The baseline :func:`load_baseline` returns, from computed tables (needs
    ``diagnosis-gold``, ``localisation``, ``leave-one-out``, ``like-for-like`` and
    ``floors``); ``release`` and ``saved_at`` are left unset. Statistics: the pairwise and
    leave-one-out figures by :func:`~dermx_bench.stats.estimators.pooled_stat`; the
    like-for-like reference and the floors as the tables computed them (as a model's).
    """
    by = {t.table: t for t in tables}
    loc, loo, dx = by["localisation"], by["leave-one-out"], by["diagnosis-gold"]
    localisation: dict[str, MetricStats] = {}
    if loc.detail is not None and len(loc.detail):
        for name, g in loc.detail.groupby("name", sort=False):
            localisation[str(name)] = _pooled(g)
    leave: dict[str, dict[str, MetricStats]] = {}
    if loo.detail is not None and len(loo.detail):
        for key, g in loo.detail.groupby(["name", "rule"], sort=False):
            char, rule = cast(tuple[str, str], key)
            leave.setdefault(str(char), {})[str(rule)] = _pooled(g)
    like = by[LIKE_FOR_LIKE].figures or {}
    seats = by[LIKE_FOR_LIKE].detail
    floors = by[FLOORS_TABLE].figures or {}
    f1_means = dx.frame["f1_mean"].to_numpy(np.float64)
    f1_means = f1_means[~np.isnan(f1_means)]
    return SavedBaseline(
        store_hash=store_hash,
        options={"localisation_multi_diagnosis": loc.multi_diagnosis,
                 "diagnosis_multi_diagnosis": dx.multi_diagnosis, "fusion": DEFAULT_RULE},
        localisation=localisation,
        leave_one_out=leave,
        diagnosis=BaselineDiagnosis(accuracy=dx.counts.get("accuracy"),
                                    macro_f1=float(f1_means.mean()) if f1_means.size else None),
        like_for_like=like.get(LIKE_FOR_LIKE, {}),
        floors={name: FloorScores(description=get_floor(name).description, localisation=figs)
                for name, figs in floors.items()},
        like_for_like_raters=rater_figures(seats) if seats is not None else {},
    )


def save_baselines(
    store: Store, saved_at: str, *, release: str | None = None, on_image: OnImage = None,
    on_total: Callable[[int], None] | None = None,
) -> SavedBaseline:
    """Compute every table with the published conventions and save them in the store.

    Saves ``("agreement", <table>)`` for each table and ``("agreement", "baseline")`` (the
    document :func:`load_baseline` returns), each with the options used and the store's
    content hash. Returns the baseline document.
    """
    store_hash = store.content_hash()
    tables = compute_tables(store, TABLES, None, release=release, on_image=on_image, on_total=on_total)
    baseline = baseline_from_tables(tables, store_hash).model_copy(update={"release": release, "saved_at": saved_at})
    results: list[tuple[str, Any]] = []
    for t in tables:
        payload = table_payload(t)
        payload.update({"store_hash": store_hash, "release": release, "saved_at": saved_at})
        results.append((t.table, payload))
    results.append((BASELINE_KEY, baseline.model_dump()))
    store.save_results("agreement", results, saved_at)  # one transaction: all tables or none
    return baseline


def load_baseline(store: Store) -> SavedBaseline:
    """The saved inter-rater baseline; StoreError if missing, unreadable or the store changed since."""
    hint = f"run 'dermx-bench agreement --store {store.path} --save'"
    doc = store.load_result("agreement", BASELINE_KEY)
    if doc is None:
        raise StoreError(f"{store.path}: no inter-rater baseline saved; {hint}")
    if not isinstance(doc, dict) or doc.get("store_hash") != store.content_hash():
        raise StoreError(
            f"{store.path}: the inter-rater baseline was saved for other store contents "
            f"(evaluations or metadata changed since); {hint} again"
        )
    if "like_for_like" not in doc:
        raise StoreError(
            f"{store.path}: the inter-rater baseline was saved by an older dermx-bench, without the "
            f"like-for-like human reference and the trivial-map floors; {hint} again"
        )
    try:
        saved = SavedBaseline.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StoreError(
            f"{store.path}: the saved inter-rater baseline is not readable ({where}: {first['msg']}); {hint} again"
        ) from None
    union = saved.like_for_like.get(UNION)
    if union is not None and union.per_rater.best_dice is None:
        raise StoreError(
            f"{store.path}: the inter-rater baseline was saved by an older dermx-bench, without the "
            f"localisation metrics of METHODS §9 (best_dice, spearman, ...) for the human reference and the "
            f"floors; {hint} again"
        )
    # the store keeps JSON with sorted keys: put the floors back in report order
    order = {name: i for i, name in enumerate(list_floors())}
    floors = dict(sorted(saved.floors.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    return saved.model_copy(update={"floors": floors})
