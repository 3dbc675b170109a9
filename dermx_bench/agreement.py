"""Inter-rater agreement: the human baseline (METHODS.md §6).

Tables (each an :class:`AgreementTable` whose ``frame`` has the csv columns):

- ``diagnosis-gold``: per disease, one-vs-rest F1/sensitivity/specificity of each rater
  against the gold diagnosis over that rater's kept evaluations; mean ± population std
  over raters (undefined values dropped);
- ``diagnosis-pairwise``: per disease, the same for every ordered rater pair (A, S) over
  the images both kept; undefined F1 or sensitivity count as 0, specificity is averaged
  where defined; mean ± population std over pairs;
- ``presence``: the same as ``diagnosis-pairwise`` over the binary "characteristic
  selected" labels of the kept evaluations that selected at least one characteristic,
  plus the number of those evaluations that selected it and of images where one did;
- ``localisation``: for every image, characteristic and ordered pair of counting raters
  where at least one of the two drew it, fuzzy F1, sensitivity (only when S drew it)
  and specificity of A against S at full resolution, computed from RLE areas and
  pairwise intersections (pycocotools) without decoding; mean ± sample std (ddof 1)
  over all pairs pooled across images; a final row ``union`` uses each rater's union
  of all characteristics;
- ``fleiss``: Fleiss' kappa per image and characteristic over the pixel labels of the
  counting raters (images with at least two), summarised as mean ± sample std over
  images;
- ``leave-one-out``: each counting rater's mask against the fusion of the other
  counting raters, for each fusion rule; mean ± sample std over (image, rater) scores.

Conventions for which evaluations count follow METHODS §3; the published DermX tables
use ``alphabetical`` for the diagnosis and presence tables and ``drop`` for the others
(:data:`DEFAULT_MULTI_DIAGNOSIS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from pycocotools import mask as cocomask

from dermx_bench import rle
from dermx_bench.errors import StoreError
from dermx_bench.files import json_ready
from dermx_bench.fusion import (
    DEFAULT_RULE,
    coverage_histogram,
    events,
    fuse,
    get_fusion_rule,
    list_fusion_rules,
)
from dermx_bench.metrics import fuzzy_scores, scores_from_sums
from dermx_bench.ontology import Ontology, load_ontology
from dermx_bench.references import UNION, ImageReference, build_references
from dermx_bench.rle import RLE
from dermx_bench.selection import MULTI_DIAGNOSIS_OPTIONS, MultiDiagnosis, select
from dermx_bench.store import EvaluationInfo, Store

__all__ = [
    "TABLES",
    "DEFAULT_MULTI_DIAGNOSIS",
    "SCORE_COLUMNS",
    "AgreementTable",
    "compute_table",
    "compute_tables",
    "localisation_pairs",
    "localisation_pairs_decoded",
    "leave_one_out_scores",
    "leave_one_out_scores_decoded",
    "fleiss_per_image",
    "fleiss_kappa_from_histogram",
    "bootstrap_ci",
    "stat",
    "baseline_from_tables",
    "save_baselines",
    "load_baseline",
    "render",
]

TABLES: tuple[str, ...] = (
    "diagnosis-gold", "diagnosis-pairwise", "presence", "localisation", "fleiss", "leave-one-out",
)
#: The multi-diagnosis convention of the published DermX tables, per table.
DEFAULT_MULTI_DIAGNOSIS: dict[str, MultiDiagnosis] = {
    "diagnosis-gold": "alphabetical",
    "diagnosis-pairwise": "alphabetical",
    "presence": "alphabetical",
    "localisation": "drop",
    "fleiss": "drop",
    "leave-one-out": "drop",
}
METRIC_NAMES: tuple[str, ...] = ("f1", "sensitivity", "specificity")
SCORE_COLUMNS: list[str] = [
    "name", "f1_mean", "f1_std", "sensitivity_mean", "sensitivity_std",
    "specificity_mean", "specificity_std", "n",
]
FLEISS_COLUMNS: list[str] = ["name", "kappa_mean", "kappa_std", "n"]
LOO_COLUMNS: list[str] = ["name", "rule", *SCORE_COLUMNS[1:]]
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
BASELINE_KEY = "baseline"

OnImage = Callable[[], None] | None


@dataclass
class AgreementTable:
    """One agreement table.

    ``frame``: the summary rows (csv columns, rows in ontology order); ``counts``: what the
    figures rest on (selection report and table-specific counts); ``detail``: the
    per-unit scores the summary averages (per rater, pair, image or (image, rater); with
    an ``image`` column where units belong to images), or None.
    """

    table: str
    multi_diagnosis: str
    frame: pd.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    detail: pd.DataFrame | None = None


# -- small numeric helpers ----------------------------------------------------------------------


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _mean_std(values: np.ndarray, ddof: int) -> tuple[float, float]:
    """Mean and std (``ddof``) of the non-NaN values; NaN where undefined."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    std = float(v.std(ddof=ddof)) if v.size > ddof else math.nan
    return mean, std


def _vector_scores(
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


def _summary_row(name: str, detail: pd.DataFrame, ddof: int) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    for m in METRIC_NAMES:
        row[f"{m}_mean"], row[f"{m}_std"] = _mean_std(detail[m].to_numpy(np.float64), ddof)
    row["n"] = len(detail)
    return row


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    if "n" in df:
        df["n"] = df["n"].astype(np.int64)
    return df


# -- selection ----------------------------------------------------------------------------------


def _kept(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis
) -> tuple[list[tuple[EvaluationInfo, str]], dict[str, Any]]:
    if multi_diagnosis not in MULTI_DIAGNOSIS_OPTIONS:
        raise ValueError(f"multi_diagnosis must be one of {MULTI_DIAGNOSIS_OPTIONS}, got {multi_diagnosis!r}")
    sel = select(evals, multi_diagnosis)
    return [(evals[i], dx) for i, dx in sel.kept.items()], sel.report()


# -- pairwise one-vs-rest tables (diagnosis-pairwise, presence) -----------------------------------


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
        f1, sens, spec = _vector_scores(t, t + f_p, t + f_n, t_n, t_n + f_p)
        f1 = np.nan_to_num(f1, nan=0.0)
        sens = np.nan_to_num(sens, nan=0.0)
        det = pd.DataFrame({
            "name": name, "rater": [raters[i] for i in a_idx], "reference": [raters[i] for i in s_idx],
            "images": shared[a_idx, s_idx].astype(np.int64), "f1": f1, "sensitivity": sens, "specificity": spec,
        })
        details.append(det)
        rows.append(_summary_row(name, det, ddof=0))
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    return rows, detail, int(a_idx.size)


def diagnosis_pairwise_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology
) -> AgreementTable:
    kept, report = _kept(evals, multi_diagnosis)
    names = ontology.order(sorted({dx for _, dx in kept}))
    rows, detail, pairs = _pairwise_table([(ev, {dx}) for ev, dx in kept], names)
    images: dict[str, int] = {}
    for ev, _ in kept:
        images[ev.image] = images.get(ev.image, 0) + 1
    counts = {"selection": report, "ordered_pairs": pairs,
              "images_with_two_or_more": sum(1 for c in images.values() if c >= 2)}
    return AgreementTable("diagnosis-pairwise", multi_diagnosis, _frame(rows, SCORE_COLUMNS), counts, detail)


def presence_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology
) -> AgreementTable:
    kept, report = _kept(evals, multi_diagnosis)
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
    frame = _frame(rows, [*SCORE_COLUMNS, "evaluations", "images"])
    counts = {"selection": report, "evaluations_selecting_any": len(selecting),
              "evaluations_selecting_none": len(kept) - len(selecting), "ordered_pairs": pairs}
    return AgreementTable("presence", multi_diagnosis, frame, counts, detail)


def diagnosis_gold_table(
    evals: list[EvaluationInfo], multi_diagnosis: MultiDiagnosis, ontology: Ontology,
    gold: dict[str, str | None],
) -> AgreementTable:
    """Per disease, each rater against the gold diagnosis; mean ± population std over raters."""
    kept, report = _kept(evals, multi_diagnosis)
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
            recs.append({"name": name, "rater": r, "evaluations": len(pred), "f1": _nan(sc.f1),
                         "sensitivity": _nan(sc.sensitivity), "specificity": _nan(sc.specificity)})
        det = pd.DataFrame(recs, columns=["name", "rater", "evaluations", *METRIC_NAMES])
        details.append(det)
        rows.append(_summary_row(name, det, ddof=0))
    accuracy = {r: float(np.mean([dx == g for dx, g in by_rater[r]])) for r in raters}
    counts = {
        "selection": report, "raters": len(raters), "evaluations_with_gold": len(with_gold),
        "evaluations_without_gold": len(kept) - len(with_gold),
        "accuracy": float(np.mean(list(accuracy.values()))) if accuracy else None,
        "accuracy_by_rater": accuracy,
    }
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    return AgreementTable("diagnosis-gold", multi_diagnosis, _frame(rows, SCORE_COLUMNS), counts, detail)


# -- localisation ------------------------------------------------------------------------------


def _coco(m: RLE) -> dict[str, Any]:
    c = m["counts"]
    return {"size": list(m["size"]), "counts": c.encode("ascii") if isinstance(c, str) else c}


def _names_of(refs: Sequence[ImageReference], ontology: Ontology) -> list[str]:
    names = {c for ref in refs for c in ref.characteristics()}
    return [*ontology.order(list(names)), UNION]


def _pair_iter(ref: ImageReference, drawn: dict[str, RLE]) -> list[tuple[str, str]]:
    """Ordered pairs (A, S) of counting raters, A != S, where at least one drew."""
    return [(a, s) for a in ref.raters for s in ref.raters if a != s and (a in drawn or s in drawn)]


def localisation_pairs(refs: Sequence[ImageReference], on_image: OnImage = None) -> pd.DataFrame:
    """Per-pair localisation scores from RLE areas and pairwise intersections (no decoding).

    Columns: ``image, name, rater, reference, f1, sensitivity, specificity`` (NaN where
    undefined); one row per image, characteristic (then ``union``) and ordered pair of
    counting raters where at least one drew it. Identical to
    :func:`localisation_pairs_decoded`.
    """
    cols: dict[str, list[Any]] = {k: [] for k in ("image", "name", "rater", "reference")}
    area_a: list[int] = []
    area_s: list[int] = []
    inter: list[int] = []
    npx: list[int] = []
    for ref in refs:
        if len(ref.raters) >= 2:
            for name, drawn in ref.masks.items():
                if not drawn:
                    continue
                who = list(drawn)
                coco = [_coco(drawn[r]) for r in who]
                areas = dict(zip(who, (int(v) for v in cocomask.area(coco)), strict=True))
                both: dict[tuple[str, str], int] = {}
                for i in range(len(who)):
                    for j in range(i + 1, len(who)):
                        v = int(cocomask.area(cocomask.merge([coco[i], coco[j]], intersect=True)))
                        both[(who[i], who[j])] = both[(who[j], who[i])] = v
                for a, s in _pair_iter(ref, drawn):
                    cols["image"].append(ref.image)
                    cols["name"].append(name)
                    cols["rater"].append(a)
                    cols["reference"].append(s)
                    area_a.append(areas.get(a, 0))
                    area_s.append(areas.get(s, 0))
                    inter.append(both.get((a, s), 0))
                    npx.append(ref.n_pixels)
        if on_image is not None:
            on_image()
    aa, ss, ii, nn = (np.asarray(v, np.int64) for v in (area_a, area_s, inter, npx))
    f1, sens, spec = _vector_scores(ii, aa, ss, nn - (aa + ss - ii), nn - ss)
    return pd.DataFrame({**cols, "f1": f1, "sensitivity": sens, "specificity": spec})


def localisation_pairs_decoded(refs: Sequence[ImageReference], on_image: OnImage = None) -> pd.DataFrame:
    """Reference implementation of :func:`localisation_pairs`: decode both masks of every
    pair to full-resolution uint8 arrays and take the sums of METHODS §4 with numpy
    (Σ min, Σ A, Σ S, N - Σ max, N - Σ S; exact integers), then :func:`scores_from_sums`."""
    recs: list[dict[str, Any]] = []
    for ref in refs:
        if len(ref.raters) >= 2:
            for name, drawn in ref.masks.items():
                if not drawn:
                    continue
                for a, s in _pair_iter(ref, drawn):
                    ma = rle.decode(drawn[a]) if a in drawn else np.zeros(ref.size, np.uint8)
                    ms = rle.decode(drawn[s]) if s in drawn else np.zeros(ref.size, np.uint8)
                    n = ma.size
                    sum_s = int(ms.sum(dtype=np.int64))
                    sc = scores_from_sums(
                        float(np.minimum(ma, ms).sum(dtype=np.int64)), float(ma.sum(dtype=np.int64)),
                        float(sum_s), float(n - np.maximum(ma, ms).sum(dtype=np.int64)), float(n - sum_s),
                    )
                    recs.append({"image": ref.image, "name": name, "rater": a, "reference": s,
                                 "f1": _nan(sc.f1), "sensitivity": _nan(sc.sensitivity),
                                 "specificity": _nan(sc.specificity)})
        if on_image is not None:
            on_image()
    return pd.DataFrame(recs, columns=["image", "name", "rater", "reference", *METRIC_NAMES])


def _summarise_by_name(detail: pd.DataFrame, names: list[str], ddof: int) -> list[dict[str, Any]]:
    rows = []
    groups = {k: g for k, g in detail.groupby("name", sort=False)} if len(detail) else {}
    for name in names:
        if name in groups:
            rows.append(_summary_row(name, groups[name], ddof))
    return rows


def localisation_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None, decoded: bool = False,
) -> AgreementTable:
    detail = (localisation_pairs_decoded if decoded else localisation_pairs)(refs, on_image)
    names = _names_of(refs, ontology)
    rows = _summarise_by_name(detail, names, ddof=1)
    counts = {
        "selection": report or {}, "images": len(refs),
        "images_with_two_or_more": sum(1 for r in refs if len(r.raters) >= 2),
        "image_characteristics": int(detail.loc[detail["name"] != UNION, ["image", "name"]]
                                     .drop_duplicates().shape[0]) if len(detail) else 0,
        "ordered_pairs": int((detail["name"] != UNION).sum()) if len(detail) else 0,
    }
    return AgreementTable("localisation", multi_diagnosis, _frame(rows, SCORE_COLUMNS), counts, detail)


# -- Fleiss' kappa ------------------------------------------------------------------------------


def fleiss_kappa_from_histogram(hist: np.ndarray) -> float | None:
    """Fleiss' kappa for two categories from ``hist[i]`` = items labelled 1 by exactly ``i``
    of ``len(hist) - 1`` raters. ``None`` when undefined (fewer than two raters, no
    items, or every label the same so that chance agreement is 1)."""
    n = len(hist) - 1
    total = float(np.sum(hist))
    if n < 2 or total <= 0:
        return None
    i = np.arange(n + 1, dtype=np.float64)
    h = np.asarray(hist, np.float64)
    p_item = (i * (i - 1) + (n - i) * (n - i - 1)) / (n * (n - 1))
    p_bar = float((h * p_item).sum() / total)
    p1 = float((h * i).sum() / (total * n))
    p_e = p1 * p1 + (1 - p1) * (1 - p1)
    if 1 - p_e <= 0:
        return None
    return (p_bar - p_e) / (1 - p_e)


def fleiss_per_image(refs: Sequence[ImageReference], on_image: OnImage = None) -> pd.DataFrame:
    """Fleiss' kappa per image and characteristic (then ``union``) over the pixel labels.

    Every counting rater labels every pixel 1 (inside their mask) or 0; images with at
    least two counting raters and characteristics at least one drew. Columns: ``image,
    name, raters, drew, kappa`` (NaN when undefined).
    """
    recs: list[dict[str, Any]] = []
    for ref in refs:
        k = len(ref.raters)
        if k >= 2:
            for name, drawn in ref.masks.items():
                if not drawn:
                    continue
                hist = coverage_histogram(list(drawn.values()), ref.size)
                hist = np.concatenate((hist, np.zeros(k + 1 - hist.size, np.int64)))
                recs.append({"image": ref.image, "name": name, "raters": k, "drew": len(drawn),
                             "kappa": _nan(fleiss_kappa_from_histogram(hist))})
        if on_image is not None:
            on_image()
    return pd.DataFrame(recs, columns=["image", "name", "raters", "drew", "kappa"])


def fleiss_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None,
) -> AgreementTable:
    detail = fleiss_per_image(refs, on_image)
    rows = []
    groups = {k: g for k, g in detail.groupby("name", sort=False)} if len(detail) else {}
    for name in _names_of(refs, ontology):
        if name in groups:
            mean, std = _mean_std(groups[name]["kappa"].to_numpy(np.float64), ddof=1)
            rows.append({"name": name, "kappa_mean": mean, "kappa_std": std,
                         "n": int(groups[name]["kappa"].notna().sum())})
    counts = {"selection": report or {}, "image_characteristics": int((detail["name"] != UNION).sum()),
              "undefined": int(detail["kappa"].isna().sum())}
    return AgreementTable("fleiss", multi_diagnosis, _frame(rows, FLEISS_COLUMNS), counts, detail)


# -- leave one rater out ------------------------------------------------------------------------


def leave_one_out_scores(
    refs: Sequence[ImageReference], rules: Sequence[str] | None = None, on_image: OnImage = None
) -> pd.DataFrame:
    """Each counting rater's mask (A) against the fusion of the other counting raters (S).

    For every image with at least two counting raters, characteristic (then ``union``),
    rater and fusion rule, where the rater or one of the others drew it. Computed exactly
    from the masks' runs (integer pixel counts per rater-count level), never decoded.
    Columns: ``image, name, rule, rater, f1, sensitivity, specificity`` (NaN undefined).
    """
    rule_names = list(rules) if rules is not None else list_fusion_rules()
    specs = [get_fusion_rule(r) for r in rule_names]
    recs: list[tuple[Any, ...]] = []
    for ref in refs:
        k = len(ref.raters)
        if k >= 2:
            n_px = ref.n_pixels
            for name, drawn in ref.masks.items():
                if not drawn:
                    continue
                who = list(drawn)
                pos, delta, owner = events([drawn[r] for r in who], n_px)
                lengths = np.diff(np.concatenate(([0], pos, [n_px])))
                cov = np.concatenate(([0], np.cumsum(delta)))
                for a in ref.raters:
                    d_others = len(who) - (a in drawn)
                    if d_others == 0 and a not in drawn:
                        continue
                    if a in drawn:
                        own = np.concatenate(([0], np.cumsum(np.where(owner == who.index(a), delta, 0))))
                    else:
                        own = np.zeros(cov.size, np.int64)
                    # hist[n, b]: pixels covered by n of the others, inside (b=1) or outside A
                    hist = np.bincount((cov - own) * 2 + own, weights=lengths,
                                       minlength=2 * (k + 1)).astype(np.int64).reshape(-1, 2)
                    n_levels = np.arange(hist.shape[0])
                    area_a = int(hist[:, 1].sum())
                    for spec in specs:
                        thresholds, den = spec.thresholds(d_others, k - 1)
                        g = np.searchsorted(np.asarray(sorted(thresholds), np.int64), n_levels, side="right")
                        s_tot = int((hist.sum(axis=1) * g).sum())  # den * Σ S
                        s_on = int((hist[:, 1] * g).sum())  # den * Σ S over A
                        sc = scores_from_sums(
                            s_on / den, float(area_a), s_tot / den,
                            ((n_px - area_a) * den - (s_tot - s_on)) / den, (n_px * den - s_tot) / den,
                        )
                        recs.append((ref.image, name, spec.name, a, _nan(sc.f1),
                                     _nan(sc.sensitivity), _nan(sc.specificity)))
        if on_image is not None:
            on_image()
    return pd.DataFrame(recs, columns=["image", "name", "rule", "rater", *METRIC_NAMES])


def leave_one_out_scores_decoded(
    refs: Sequence[ImageReference], rules: Sequence[str] | None = None
) -> pd.DataFrame:
    """Reference implementation of :func:`leave_one_out_scores` on decoded arrays."""
    rule_names = list(rules) if rules is not None else list_fusion_rules()
    recs: list[tuple[Any, ...]] = []
    for ref in refs:
        k = len(ref.raters)
        if k < 2:
            continue
        for name, drawn in ref.masks.items():
            if not drawn:
                continue
            for a in ref.raters:
                others = [m for r, m in drawn.items() if r != a]
                if not others and a not in drawn:
                    continue
                ma = rle.decode(drawn[a]) if a in drawn else np.zeros(ref.size, np.uint8)
                for rule in rule_names:
                    s = fuse(others, k - 1, rule, size=ref.size).astype(np.float64)
                    sc = fuzzy_scores(ma, s)
                    recs.append((ref.image, name, rule, a, _nan(sc.f1), _nan(sc.sensitivity),
                                 _nan(sc.specificity)))
    return pd.DataFrame(recs, columns=["image", "name", "rule", "rater", *METRIC_NAMES])


def leave_one_out_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None,
) -> AgreementTable:
    detail = leave_one_out_scores(refs, on_image=on_image)
    rows = []
    groups = {k: g for k, g in detail.groupby(["name", "rule"], sort=False)} if len(detail) else {}
    for name in _names_of(refs, ontology):
        for rule in list_fusion_rules():
            if (name, rule) in groups:
                row = _summary_row(name, groups[(name, rule)], ddof=1)
                row["rule"] = rule
                rows.append(row)
    counts = {"selection": report or {}, "fusion_rules": list_fusion_rules(),
              "scores_per_rule": int((detail["rule"] == DEFAULT_RULE).sum()) if len(detail) else 0}
    return AgreementTable("leave-one-out", multi_diagnosis, _frame(rows, LOO_COLUMNS), counts, detail)


# -- entry points -------------------------------------------------------------------------------


def compute_tables(
    store: Store,
    tables: Sequence[str] = TABLES,
    multi_diagnosis: MultiDiagnosis | None = None,
    *,
    release: str | None = None,
    ontology: Ontology | None = None,
    on_image: OnImage = None,
) -> list[AgreementTable]:
    """Compute the named tables (in the order given).

    ``multi_diagnosis``: one convention for every table, or None for each table's
    published default (:data:`DEFAULT_MULTI_DIAGNOSIS`). ``release``: only that release's
    evaluations. ``on_image`` is called once per image visited (progress).
    """
    for t in tables:
        if t not in TABLES:
            raise ValueError(f"unknown table {t!r}; choose one of: {', '.join(TABLES)}")
    onto = ontology or load_ontology()
    evals = store.evaluations(release)
    gold = {im.name: im.gold for im in store.images()}
    refs_cache: dict[str, tuple[list[ImageReference], dict[str, Any]]] = {}

    def refs_for(md: MultiDiagnosis) -> tuple[list[ImageReference], dict[str, Any]]:
        if md not in refs_cache:
            kept, report = _kept(evals, md)
            refs_cache[md] = (build_references(store, kept, onto), report)
        return refs_cache[md]

    out: list[AgreementTable] = []
    for t in tables:
        md = multi_diagnosis or DEFAULT_MULTI_DIAGNOSIS[t]
        if t == "diagnosis-gold":
            out.append(diagnosis_gold_table(evals, md, onto, gold))
        elif t == "diagnosis-pairwise":
            out.append(diagnosis_pairwise_table(evals, md, onto))
        elif t == "presence":
            out.append(presence_table(evals, md, onto))
        else:
            refs, report = refs_for(md)
            build = {"localisation": localisation_table_from_refs, "fleiss": fleiss_table_from_refs,
                     "leave-one-out": leave_one_out_table_from_refs}[t]
            out.append(build(refs, md, onto, report, on_image))
    return out


def compute_table(
    store: Store, table: str, multi_diagnosis: MultiDiagnosis | None = None, *,
    release: str | None = None, ontology: Ontology | None = None, on_image: OnImage = None,
) -> AgreementTable:
    """Compute one table (see :func:`compute_tables`)."""
    return compute_tables(store, [table], multi_diagnosis, release=release, ontology=ontology,
                          on_image=on_image)[0]


# -- bootstrap and baselines --------------------------------------------------------------------


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
    mean, std = _mean_std(v, ddof)
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
        "table": t.table, "multi_diagnosis": t.multi_diagnosis, "counts": _jsonable(t.counts),
        "columns": list(t.frame.columns),
        "rows": [{k: json_ready(v) for k, v in rec.items()} for rec in t.frame.to_dict(orient="records")],
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return json_ready(obj)


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
    for t in tables:
        payload = table_payload(t)
        payload.update({"store_hash": store_hash, "release": release, "saved_at": saved_at})
        store.save_result("agreement", t.table, payload, saved_at)
    store.save_result("agreement", BASELINE_KEY, baseline, saved_at)
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


# -- rendering ----------------------------------------------------------------------------------


def _fmt_cell(v: Any, decimals: int) -> str:
    v = json_ready(v)
    if v is None:
        return "–" if decimals >= 0 else ""
    if isinstance(v, float):
        return f"{v:.{decimals}f}"
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for rec in df.to_dict(orient="records"):
        lines.append("| " + " | ".join(_fmt_cell(rec[c], 2) for c in cols) + " |")
    return "\n".join(lines)


def _text(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    cells = [[_fmt_cell(rec[c], 2) for c in cols] for rec in df.to_dict(orient="records")]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths, strict=True)))]
    for r in cells:
        out.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                             for i, (v, w) in enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def _selection_line(report: dict[str, Any]) -> str:
    if not report:
        return ""
    reasons = ", ".join(f"{k} {v}" for k, v in report.get("discarded_by_reason", {}).items()) or "none"
    md = report.get("multi_diagnosis")
    multi = report.get("multi_diagnosis_evaluations", 0)
    handling = (f"{report.get('multi_diagnosis_dropped', 0)} dropped" if md == "drop"
                else f"kept with the {'alphabetically first' if md == 'alphabetical' else 'first listed'} diagnosis")
    return (f"evaluations kept {report.get('kept')}, discarded {report.get('discarded')} ({reasons}); "
            f"{multi} with several diagnoses: {handling}")


def _counts_lines(t: AgreementTable) -> list[str]:
    lines = [f"- multi_diagnosis = `{t.multi_diagnosis}`"]
    sel = t.counts.get("selection")
    if sel:
        lines.append(f"- {_selection_line(sel)}")
    for k, v in t.counts.items():
        if k in ("selection", "accuracy_by_rater"):
            continue
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, list):
            v = ", ".join(map(str, v))
        lines.append(f"- {k.replace('_', ' ')}: {v}")
    return lines


_TITLES = {
    "diagnosis-gold": "Diagnosis against the gold standard (mean ± population std over raters)",
    "diagnosis-pairwise": "Pairwise diagnosis agreement (mean ± population std over ordered pairs)",
    "presence": "Characteristic presence agreement (mean ± population std over ordered pairs)",
    "localisation": "Localisation agreement (mean ± sample std over ordered pairs, pooled over images)",
    "fleiss": "Fleiss' kappa over pixel labels (mean ± sample std over images)",
    "leave-one-out": "Leave one rater out: each rater against the fusion of the others (mean ± sample std)",
}


def render(tables: Sequence[AgreementTable], fmt: str, *, store_hash: str | None = None) -> str:
    """Format tables: ``csv`` (one table, unrounded), ``json`` (unrounded), ``table`` or ``md``
    (two decimals; ``md`` of several tables is the reproduction report with counts)."""
    if fmt == "csv":
        if len(tables) != 1:
            raise ValueError("the csv format holds one table; choose one with --table")
        return cast(str, tables[0].frame.to_csv(index=False, float_format=None, na_rep="")).rstrip("\n")
    if fmt == "json":
        payloads = [table_payload(t) for t in tables]
        import json

        return json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2)
    if fmt == "table":
        parts = []
        for t in tables:
            parts.append(f"# {t.table} (multi_diagnosis={t.multi_diagnosis})\n{_text(t.frame)}")
        return "\n\n".join(parts)
    if fmt == "md":
        parts = []
        if len(tables) > 1:
            parts.append("# DermX inter-rater agreement: reproduction report")
            if store_hash:
                parts.append(f"Store content hash: `{store_hash}`. Figures rounded to two decimals; "
                             "`–` marks an undefined value.")
        for t in tables:
            head = f"## {t.table}: {_TITLES[t.table]}"
            parts.append("\n".join([head, "", *_counts_lines(t), "", _markdown(t.frame)]))
        return "\n\n".join(parts)
    raise ValueError(f"unknown format {fmt!r}; choose one of: table, csv, json, md")
