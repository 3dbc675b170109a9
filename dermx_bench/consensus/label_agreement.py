"""Agreement on labels: diagnosis against gold, pairwise diagnosis, characteristic presence (METHODS §6).

- ``diagnosis-gold``: per disease, one-vs-rest F1/sensitivity/specificity of each rater
  against the gold diagnosis over that rater's kept evaluations; mean ± population std
  over raters (undefined values dropped);
- ``diagnosis-pairwise``: per disease, the same for every ordered rater pair (A, S) over
  the images both kept; undefined F1 or sensitivity count as 0, specificity is averaged
  where defined; mean ± population std over pairs;
- ``presence``: the same as ``diagnosis-pairwise`` over the binary "characteristic
  selected" labels of the kept evaluations that selected at least one characteristic,
  plus the number of those evaluations that selected it and of images where one did.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from dermx_bench.consensus.agreement_table import (
    SCORE_COLUMNS,
    AgreementTable,
    kept_evaluations,
    nan_if_none,
    summary_row,
    table_frame,
    vector_scores,
)
from dermx_bench.core.names import METRIC_NAMES
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.masks.metrics import fuzzy_scores
from dermx_bench.store.db import EvaluationInfo
from dermx_bench.store.selection import MultiDiagnosis


def _pairwise_table(
    kept: list[tuple[EvaluationInfo, set[str]]], names: list[str]
) -> tuple[list[dict[str, Any]], pd.DataFrame, int]:
    """One-vs-rest scores for every ordered rater pair over the images both have.

    ``kept``: (evaluation, labels it selected). Returns the summary rows (population
    std; undefined F1/sensitivity count as 0, specificity averaged where defined), the
    per-pair detail and the number of ordered pairs.
    """
    raters = sorted({ev.rater for ev, _ in kept})
    images = sorted({ev.image for ev, _ in kept})
    r_ix = {r: i for i, r in enumerate(raters)}
    i_ix = {m: i for i, m in enumerate(images)}
    n_ix = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(names), len(raters), len(images)), np.float64)
    p = np.zeros((len(raters), len(images)), np.float64)
    for ev, labels in kept:
        p[r_ix[ev.rater], i_ix[ev.image]] = 1.0
        for lab in labels:
            if lab in n_ix:
                x[n_ix[lab], r_ix[ev.rater], i_ix[ev.image]] = 1.0
    neg = p[None, :, :] - x
    tp = x @ x.transpose(0, 2, 1)  # (names, A, S)
    fp = x @ neg.transpose(0, 2, 1)
    fn = neg @ x.transpose(0, 2, 1)
    tn = neg @ neg.transpose(0, 2, 1)
    shared = p @ p.T
    pair_mask = (shared > 0) & ~np.eye(len(raters), dtype=bool)
    a_idx, s_idx = np.nonzero(pair_mask)
    rows: list[dict[str, Any]] = []
    details: list[pd.DataFrame] = []
    for j, name in enumerate(names):
        t, f_p, f_n, t_n = (arr[j][a_idx, s_idx] for arr in (tp, fp, fn, tn))
        f1, sens, spec = vector_scores(t, t + f_p, t + f_n, t_n, t_n + f_p)
        f1 = np.nan_to_num(f1, nan=0.0)
        sens = np.nan_to_num(sens, nan=0.0)
        det = pd.DataFrame({
            "name": name, "rater": [raters[i] for i in a_idx], "reference": [raters[i] for i in s_idx],
            "images": shared[a_idx, s_idx].astype(np.int64), "f1": f1, "sensitivity": sens, "specificity": spec,
        })
        details.append(det)
        rows.append(summary_row(name, det, ddof=0))
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    return rows, detail, int(a_idx.size)


def diagnosis_pairwise_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology
) -> AgreementTable:
    kept, report = kept_evaluations(evals, multi_diagnosis)
    names = ontology.order(sorted({dx for _, dx in kept}))
    rows, detail, pairs = _pairwise_table([(ev, {dx}) for ev, dx in kept], names)
    images: dict[str, int] = {}
    for ev, _ in kept:
        images[ev.image] = images.get(ev.image, 0) + 1
    counts = {"selection": report, "ordered_pairs": pairs,
              "images_with_two_or_more": sum(1 for c in images.values() if c >= 2)}
    return AgreementTable("diagnosis-pairwise", multi_diagnosis, table_frame(rows, SCORE_COLUMNS), counts, detail)


def presence_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology
) -> AgreementTable:
    kept, report = kept_evaluations(evals, multi_diagnosis)
    known = set(ontology.characteristics)
    labelled = [(ev, (set(ev.tags) | set(ev.characteristics)) & known) for ev, _ in kept]
    selecting = [(ev, labels) for ev, labels in labelled if labels]
    n_eval: dict[str, int] = {}
    n_img: dict[str, set[str]] = {}
    for ev, labels in selecting:
        for lab in labels:
            n_eval[lab] = n_eval.get(lab, 0) + 1
            n_img.setdefault(lab, set()).add(ev.image)
    names = ontology.order(list(n_eval))
    rows, detail, pairs = _pairwise_table(selecting, names)
    for row in rows:
        row["evaluations"] = n_eval[row["name"]]
        row["images"] = len(n_img[row["name"]])
    frame = table_frame(rows, [*SCORE_COLUMNS, "evaluations", "images"])
    counts = {"selection": report, "evaluations_selecting_any": len(selecting),
              "evaluations_selecting_none": len(kept) - len(selecting), "ordered_pairs": pairs}
    return AgreementTable("presence", multi_diagnosis, frame, counts, detail)


def diagnosis_gold_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology,
    gold: dict[str, str | None],
) -> AgreementTable:
    """Per disease, each rater against the gold diagnosis; mean ± population std over raters."""
    kept, report = kept_evaluations(evals, multi_diagnosis)
    with_gold = [(ev, dx, gold[ev.image]) for ev, dx in kept if gold.get(ev.image)]
    names = ontology.order(sorted({dx for _, dx, _ in with_gold} | {g for _, _, g in with_gold if g}))
    raters = sorted({ev.rater for ev, _, _ in with_gold})
    by_rater: dict[str, list[tuple[str, str]]] = {r: [] for r in raters}
    for ev, dx, g in with_gold:
        by_rater[ev.rater].append((dx, cast(str, g)))
    rows: list[dict[str, Any]] = []
    details: list[pd.DataFrame] = []
    for name in names:
        recs = []
        for r in raters:
            pred = np.array([dx == name for dx, _ in by_rater[r]], np.float64)
            true = np.array([g == name for _, g in by_rater[r]], np.float64)
            sc = fuzzy_scores(pred, true)
            recs.append({"name": name, "rater": r, "evaluations": len(pred), "f1": nan_if_none(sc.f1),
                         "sensitivity": nan_if_none(sc.sensitivity), "specificity": nan_if_none(sc.specificity)})
        det = pd.DataFrame(recs, columns=["name", "rater", "evaluations", *METRIC_NAMES])
        details.append(det)
        rows.append(summary_row(name, det, ddof=0))
    accuracy = {r: float(np.mean([dx == g for dx, g in by_rater[r]])) for r in raters}
    counts = {
        "selection": report, "raters": len(raters), "evaluations_with_gold": len(with_gold),
        "evaluations_without_gold": len(kept) - len(with_gold),
        "accuracy": float(np.mean(list(accuracy.values()))) if accuracy else None,
        "accuracy_by_rater": accuracy,
    }
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    return AgreementTable("diagnosis-gold", multi_diagnosis, table_frame(rows, SCORE_COLUMNS), counts, detail)


