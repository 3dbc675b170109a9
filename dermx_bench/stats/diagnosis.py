"""Diagnostic performance of a model's predictions, as an entry's ``diagnosis`` states it.

:func:`diagnosis_scores` scores predictions against gold diagnoses;
:func:`predictions_diagnosis` applies it to a run's ``predictions.csv`` the way a run
does when it writes its entry, so that the leaderboard can re-compute the figures from
the kept file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from dermx_bench.core.names import IGNORE_CLASS, PROBABILITY_PREFIX
from dermx_bench.results.figures import ClassScores, Confusion, Diagnosis
from dermx_bench.stats.aggregate import Order

if TYPE_CHECKING:
    import pandas as pd


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def diagnosis_scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> Diagnosis:
    """Diagnostic performance of predictions against gold diagnoses.

    Per disease (one-vs-rest over all images): F1 = 2TP / (2TP + FP + FN),
    sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), each ``None`` when its
    denominator is 0, and ``n`` = images of that gold disease. ``accuracy`` = share of
    images predicted right; ``macro_f1`` = mean F1 over the diseases present in gold or
    predictions (as scikit-learn's ``f1_score(average="macro")``). ``confusion.matrix[i][j]``
    counts images of gold ``labels[i]`` predicted ``labels[j]``. ``labels`` default to the
    sorted union of gold and predicted names. Empty input: accuracy and macro F1 are 0.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold diagnoses but {len(predicted)} predictions")
    labs = list(labels) if labels is not None else sorted(set(gold) | set(predicted))
    missing = sorted((set(gold) | set(predicted)) - set(labs))
    if missing:
        raise ValueError(f"labels lack {missing}")
    index = {name: i for i, name in enumerate(labs)}
    k = len(labs)
    matrix = np.zeros((k, k), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g], index[p]] += 1
    total = int(matrix.sum())
    per_class: dict[str, ClassScores] = {}
    f1s: list[float] = []
    present = set(gold) | set(predicted)
    for name, i in index.items():
        tp = int(matrix[i, i])
        fn = int(matrix[i].sum()) - tp
        fp = int(matrix[:, i].sum()) - tp
        tn = total - tp - fn - fp
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        per_class[name] = ClassScores(f1=f1, sensitivity=_ratio(tp, tp + fn), specificity=_ratio(tn, tn + fp),
                                      n=tp + fn)
        if name in present and f1 is not None:
            f1s.append(f1)
    accuracy = float(np.trace(matrix)) / total if total else 0.0
    return Diagnosis(
        accuracy=accuracy,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        per_class=per_class,
        confusion=Confusion(labels=labs, matrix=matrix.tolist()),
    )


def predictions_diagnosis(
    preds: pd.DataFrame, classes: Sequence[str], order: Order
) -> Diagnosis:
    """:func:`diagnosis_scores` of a run's predictions (read with ``keep_default_na=False``).

    Images with an empty ``gold`` are left out; the labels are the model's diagnosis
    ``classes`` (``"ignore"`` outputs left out) and the gold diagnoses present, in the
    ontology's ``order``.
    """
    with_gold = preds[preds["gold"] != ""]
    gold = [str(g) for g in with_gold["gold"]]
    labels = order(sorted({c for c in classes if c != IGNORE_CLASS} | set(gold)))
    return diagnosis_scores(gold, [str(p) for p in with_gold["predicted"]], labels)


def one_vs_rest_auroc(score: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Area under the ROC curve of ``score`` as a classifier of ``positive`` (ties count one
    half: the Mann-Whitney U statistic over positives x negatives); None unless both classes
    occur. Equals scikit-learn's ``roc_auc_score(positive, score)``."""
    from scipy.stats import rankdata

    y = np.asarray(positive, bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(np.asarray(score, np.float64))
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def predictions_diagnosis_auroc(preds: pd.DataFrame, classes: Sequence[str], order: Order) -> Diagnosis:
    """:func:`predictions_diagnosis` plus each class's one-vs-rest AUROC and their macro mean
    (figures version 3; Young et al.).

    Per diagnosis class with a ``p:<class>`` column: :func:`one_vs_rest_auroc` of that
    probability against "gold is this class" over the images with a gold diagnosis;
    ``macro_auroc``: the mean over the classes where it is defined (None if none is).
    """
    dx = predictions_diagnosis(preds, classes, order)
    with_gold = preds[preds["gold"] != ""]
    gold = with_gold["gold"].astype(str).to_numpy()
    per_class = dict(dx.per_class)
    aurocs: list[float] = []
    for name, cs in dx.per_class.items():
        column = f"{PROBABILITY_PREFIX}{name}"
        if column not in with_gold.columns:
            continue
        value = one_vs_rest_auroc(with_gold[column].astype(np.float64).tolist(), (gold == name).tolist())
        per_class[name] = cs.model_copy(update={"auroc": value})
        if value is not None:
            aurocs.append(value)
    return dx.model_copy(update={"per_class": per_class,
                                 "macro_auroc": float(np.mean(aurocs)) if aurocs else None})
