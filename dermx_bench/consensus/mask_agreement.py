"""Agreement on masks: localisation pairs and leave one rater out (METHODS §6).

- ``localisation``: for every image, characteristic and ordered pair of counting raters
  where at least one of the two drew it, fuzzy F1, sensitivity (only when S drew it)
  and specificity of A against S at full resolution, computed from RLE areas and
  pairwise intersections (:mod:`dermx_bench.masks.rle`) without decoding; mean ± sample
  std (ddof 1) over all pairs pooled across images; a final row ``union`` uses each
  rater's union of all characteristics;
- ``leave-one-out``: each counting rater's mask against the fusion of the other
  counting raters, for each fusion rule; mean ± sample std over (image, rater) scores.

Each fast function has a ``*_decoded`` reference implementation on decoded arrays that
the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermx_bench.consensus.agreement_table import (
    LOO_COLUMNS,
    SCORE_COLUMNS,
    AgreementTable,
    OnImage,
    names_of,
    nan_if_none,
    summarise_by_name,
    summary_row,
    table_frame,
    vector_scores,
)
from dermx_bench.consensus.fusion import (
    DEFAULT_RULE,
    fuse,
    get_fusion_rule,
    list_fusion_rules,
)
from dermx_bench.consensus.references import UNION, ImageReference
from dermx_bench.core.names import METRIC_NAMES
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.masks import rle
from dermx_bench.masks.metrics import fuzzy_scores, scores_from_sums
from dermx_bench.masks.rle import RLE


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
    f1, sens, spec = vector_scores(ii, aa, ss, nn - (aa + ss - ii), nn - ss)
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
                                 "f1": nan_if_none(sc.f1), "sensitivity": nan_if_none(sc.sensitivity),
                                 "specificity": nan_if_none(sc.specificity)})
        if on_image is not None:
            on_image()
    return pd.DataFrame(recs, columns=["image", "name", "rater", "reference", *METRIC_NAMES])


def localisation_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None, decoded: bool = False,
) -> AgreementTable:
    detail = (localisation_pairs_decoded if decoded else localisation_pairs)(refs, on_image)
    names = names_of(refs, ontology)
    rows = summarise_by_name(detail, names, ddof=1)
    counts = {
        "selection": report or {}, "images": len(refs),
        "images_with_two_or_more": sum(1 for r in refs if len(r.raters) >= 2),
        "image_characteristics": int(detail.loc[detail["name"] != UNION, ["image", "name"]]
                                     .drop_duplicates().shape[0]) if len(detail) else 0,
        "ordered_pairs": int((detail["name"] != UNION).sum()) if len(detail) else 0,
    }
    return AgreementTable("localisation", multi_diagnosis, table_frame(rows, SCORE_COLUMNS), counts, detail)


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
                pos, delta, owner = ref.events(name)  # owners index `who` (drawn, in order)
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
                        recs.append((ref.image, name, spec.name, a, nan_if_none(sc.f1),
                                     nan_if_none(sc.sensitivity), nan_if_none(sc.specificity)))
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
                    recs.append((ref.image, name, rule, a, nan_if_none(sc.f1), nan_if_none(sc.sensitivity),
                                 nan_if_none(sc.specificity)))
    return pd.DataFrame(recs, columns=["image", "name", "rule", "rater", *METRIC_NAMES])


def leave_one_out_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None,
) -> AgreementTable:
    detail = leave_one_out_scores(refs, on_image=on_image)
    rows = []
    groups = {k: g for k, g in detail.groupby(["name", "rule"], sort=False)} if len(detail) else {}
    for name in names_of(refs, ontology):
        for rule in list_fusion_rules():
            if (name, rule) in groups:
                row = summary_row(name, groups[(name, rule)], ddof=1)
                row["rule"] = rule
                rows.append(row)
    counts = {"selection": report or {}, "fusion_rules": list_fusion_rules(),
              "scores_per_rule": int((detail["rule"] == DEFAULT_RULE).sum()) if len(detail) else 0}
    return AgreementTable("leave-one-out", multi_diagnosis, table_frame(rows, LOO_COLUMNS), counts, detail)


