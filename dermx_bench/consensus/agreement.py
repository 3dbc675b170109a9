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

from dermx_bench.consensus.fusion import (
    DEFAULT_RULE,
    coverage_histogram,
    events,
    fuse,
    get_fusion_rule,
    list_fusion_rules,
)
from dermx_bench.consensus.references import (
    UNION,
    ImageReference,
    build_references,
    check_multi_diagnosis,
)
from dermx_bench.core.errors import RegistryError
from dermx_bench.core.names import METRIC_NAMES
from dermx_bench.darwin.ontology import Ontology, load_ontology
from dermx_bench.masks import rle
from dermx_bench.masks.metrics import fuzzy_scores, scores_from_sums
from dermx_bench.masks.rle import RLE
from dermx_bench.store.db import EvaluationInfo, Store
from dermx_bench.store.selection import MultiDiagnosis, select

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
SCORE_COLUMNS: list[str] = [
    "name", "f1_mean", "f1_std", "sensitivity_mean", "sensitivity_std",
    "specificity_mean", "specificity_std", "n",
]
FLEISS_COLUMNS: list[str] = ["name", "kappa_mean", "kappa_std", "n"]
LOO_COLUMNS: list[str] = ["name", "rule", *SCORE_COLUMNS[1:]]

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


def mean_std(values: np.ndarray, ddof: int) -> tuple[float, float]:
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
        row[f"{m}_mean"], row[f"{m}_std"] = mean_std(detail[m].to_numpy(np.float64), ddof)
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
    check_multi_diagnosis(multi_diagnosis)
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
                areas = {r: rle.area(drawn[r]) for r in who}
                both: dict[tuple[str, str], int] = {}
                for i in range(len(who)):
                    for j in range(i + 1, len(who)):
                        v = rle.intersection_area(drawn[who[i]], drawn[who[j]])
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
            mean, std = mean_std(groups[name]["kappa"].to_numpy(np.float64), ddof=1)
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
            raise RegistryError("agreement table", t, list(TABLES))
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
