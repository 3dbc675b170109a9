"""What every agreement table is made of: the table type, its columns and shared helpers.

The tables themselves are built in :mod:`~dermx_bench.consensus.label_agreement`
(diagnosis and presence), :mod:`~dermx_bench.consensus.mask_agreement` (localisation and
leave-one-out) and :mod:`~dermx_bench.consensus.fleiss`; :mod:`~dermx_bench.consensus.agreement`
computes them from a store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dermx_bench.consensus.references import UNION, ImageReference, check_multi_diagnosis
from dermx_bench.core.files import json_ready
from dermx_bench.core.names import ALL_METRIC_NAMES, METRIC_NAMES
from dermx_bench.core.names import SCORE_COLUMNS as CSV_SCORE_COLUMNS
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.results.figures import LocalisationScores
from dermx_bench.stats.estimators import mean_std
from dermx_bench.store.db import EvaluationInfo
from dermx_bench.store.selection import MultiDiagnosis, select

SCORE_COLUMNS: list[str] = [
    "name", "f1_mean", "f1_std", "sensitivity_mean", "sensitivity_std",
    "specificity_mean", "specificity_std", "n",
]
FLEISS_COLUMNS: list[str] = ["name", "kappa_mean", "kappa_std", "n"]
LOO_COLUMNS: list[str] = ["name", "rule", *SCORE_COLUMNS[1:]]
FIGURE_COLUMNS: list[str] = [
    "name", "against",
    *(f"{m}_{k}" for m in ALL_METRIC_NAMES for k in ("mean", "std", "ci_low", "ci_high")), "n_images",
]
"""Columns of a table of figures scored as a model's are (like-for-like reference, floors):
per characteristic and ``against`` (``per_rater`` or ``fusion``), each metric's mean over
images, sample std and bootstrap 95% interval."""

OnImage = Callable[[], None] | None
"""Called once per image visited (progress), or None."""


@dataclass
class AgreementTable:
    """One agreement table.

    ``frame``: the summary rows (csv columns, rows in ontology order); ``counts``: what the
    figures rest on (selection report and table-specific counts); ``detail``: the
    per-unit scores the summary averages (per rater, pair, image or (image, rater); with
    an ``image`` column where units belong to images), or None; ``figures``: for the
    tables scored as a model is (like-for-like reference, floors), the typed figures per
    group (the reference, or each floor) and characteristic.
    """

    table: str
    multi_diagnosis: str
    frame: pd.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    detail: pd.DataFrame | None = None
    figures: dict[str, dict[str, LocalisationScores]] | None = None


def nan_if_none(v: float | None) -> float:
    """An undefined score (None) as NaN, the tables' mark for undefined."""
    return math.nan if v is None else float(v)


def vector_scores(
    sum_min: np.ndarray, sum_a: np.ndarray, sum_s: np.ndarray, sum_min_c: np.ndarray, sum_s_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised :func:`metrics.scores_from_sums`; NaN for undefined (same float operations)."""
    sum_min, sum_a, sum_s, sum_min_c, sum_s_c = (
        np.asarray(x, dtype=np.float64) for x in (sum_min, sum_a, sum_s, sum_min_c, sum_s_c)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        den = sum_a + sum_s
        f1 = np.where(den > 0, 2.0 * sum_min / den, np.nan)
        sens = np.where(sum_s > 0, sum_min / sum_s, np.nan)
        spec = np.where(sum_s_c > 0, sum_min_c / sum_s_c, np.nan)
    return f1, sens, spec


def score_rows_frame(
    recs: list[tuple[Any, ...]], lead: str, columns: Sequence[str] = CSV_SCORE_COLUMNS,
    metrics: Sequence[str] = ALL_METRIC_NAMES,
) -> pd.DataFrame:
    """``scores.csv`` rows (tuples: a leading ``lead`` column, then ``columns``) as a frame;
    the ``metrics`` as float64, undefined as NaN."""
    df = pd.DataFrame(recs, columns=[lead, *columns])
    for m in metrics:
        df[m] = df[m].astype(np.float64)
    return df


def figure_rows(figures: dict[str, LocalisationScores], lead: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """:data:`FIGURE_COLUMNS` rows (after the ``lead`` columns) of typed figures per characteristic
    (one ``<metric>_mean/std/ci_low/ci_high`` group per metric the figures hold)."""
    rows = []
    for name, loc in figures.items():
        for against in ("per_rater", "fusion"):
            row: dict[str, Any] = {**(lead or {}), "name": name, "against": against}
            stats = getattr(loc, against)
            for m in type(stats).model_fields:
                st = getattr(stats, m)
                if st is None:
                    continue  # a metric these figures were not computed with
                for k in ("mean", "std", "ci_low", "ci_high"):
                    v = getattr(st, k)
                    row[f"{m}_{k}"] = math.nan if v is None else v
            row["n_images"] = loc.n_images
            rows.append(row)
    return rows


def summary_row(name: str, detail: pd.DataFrame, ddof: int) -> dict[str, Any]:
    """One summary row: each metric's mean and std (``ddof``) over the detail rows, and ``n`` rows."""
    row: dict[str, Any] = {"name": name}
    for m in METRIC_NAMES:
        row[f"{m}_mean"], row[f"{m}_std"] = mean_std(detail[m].to_numpy(np.float64), ddof)
    row["n"] = len(detail)
    return row


def table_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """The summary rows as a frame with the table's columns (``n`` as int64)."""
    df = pd.DataFrame(rows, columns=columns)
    for n in ("n", "n_images"):
        if n in df:
            df[n] = df[n].astype(np.int64)
    return df


def kept_evaluations(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis
) -> tuple[list[tuple[EvaluationInfo, str]], dict[str, Any]]:
    """The evaluations that count (METHODS §3), each with its diagnosis, and the selection report."""
    check_multi_diagnosis(multi_diagnosis)
    sel = select(evals, multi_diagnosis)
    return [(evals[i], dx) for i, dx in sel.kept.items()], sel.report()


def names_of(refs: Sequence[ImageReference], ontology: Ontology) -> list[str]:
    """The characteristics drawn on any of ``refs`` in ontology order, then ``union``."""
    names = {c for ref in refs for c in ref.characteristics()}
    return [*ontology.order(list(names)), UNION]


def summarise_by_name(detail: pd.DataFrame, names: list[str], ddof: int) -> list[dict[str, Any]]:
    """:func:`summary_row` of each name (in the order given) that has detail rows."""
    rows = []
    groups = {k: g for k, g in detail.groupby("name", sort=False)} if len(detail) else {}
    for name in names:
        if name in groups:
            rows.append(summary_row(name, groups[name], ddof))
    return rows


def table_payload(t: AgreementTable) -> dict[str, Any]:
    """JSON-able form of a table: options, counts and rows (NaN -> null, unrounded)."""
    return {
        "table": t.table, "multi_diagnosis": t.multi_diagnosis, "counts": json_ready(t.counts),
        "columns": list(t.frame.columns),
        "rows": json_ready(t.frame.to_dict(orient="records")),
    }
