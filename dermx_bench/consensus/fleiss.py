"""Fleiss' kappa per image and characteristic over the pixel labels of the counting raters.

Images with at least two counting raters; the ``fleiss`` table summarises the kappas
as mean ± sample std (ddof 1) over images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermx_bench.consensus.agreement_table import (
    FLEISS_COLUMNS,
    AgreementTable,
    OnImage,
    names_of,
    nan_if_none,
    table_frame,
)
from dermx_bench.consensus.references import UNION, ImageReference
from dermx_bench.darwin.ontology import Ontology
from dermx_bench.stats.estimators import mean_std


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
                lengths, cov = ref.coverage(name)  # as coverage_histogram, from the runs decoded once per mask
                hist = np.bincount(cov, weights=lengths, minlength=len(drawn) + 1).astype(np.int64)
                hist = np.concatenate((hist, np.zeros(k + 1 - hist.size, np.int64)))
                recs.append({"image": ref.image, "name": name, "raters": k, "drew": len(drawn),
                             "kappa": nan_if_none(fleiss_kappa_from_histogram(hist))})
        if on_image is not None:
            on_image()
    return pd.DataFrame(recs, columns=["image", "name", "raters", "drew", "kappa"])


def image_kappa(ref: ImageReference) -> float | None:
    """Fleiss' kappa of one image over characteristics (Singh et al.'s per-image agreement).

    Every (pixel, characteristic) pair is an item that each counting rater labels 1 (inside
    their mask of that characteristic) or 0, over the localisable characteristics at least
    one counting rater drew (the union of characteristics left out): the pooled pixel
    histograms of :func:`fleiss_per_image`. None with fewer than two counting raters, no
    drawing, or when undefined (every label the same).
    """
    k = len(ref.raters)
    if k < 2:
        return None
    hist = np.zeros(k + 1, np.int64)
    for name, drawn in ref.masks.items():
        if name == UNION or not drawn:
            continue
        lengths, cov = ref.coverage(name)
        h = np.bincount(cov, weights=lengths, minlength=len(drawn) + 1).astype(np.int64)
        hist[: h.size] += h
    if hist[1:].sum() == 0:
        return None
    return fleiss_kappa_from_histogram(hist)


def fleiss_table_from_refs(
    refs: Sequence[ImageReference], multi_diagnosis: str, ontology: Ontology,
    report: dict[str, Any] | None = None, on_image: OnImage = None,
) -> AgreementTable:
    detail = fleiss_per_image(refs, on_image)
    rows = []
    groups = {k: g for k, g in detail.groupby("name", sort=False)} if len(detail) else {}
    for name in names_of(refs, ontology):
        if name in groups:
            mean, std = mean_std(groups[name]["kappa"].to_numpy(np.float64), ddof=1)
            rows.append({"name": name, "kappa_mean": mean, "kappa_std": std,
                         "n": int(groups[name]["kappa"].notna().sum())})
    counts = {"selection": report or {}, "image_characteristics": int((detail["name"] != UNION).sum()),
              "undefined": int(detail["kappa"].isna().sum())}
    return AgreementTable("fleiss", multi_diagnosis, table_frame(rows, FLEISS_COLUMNS), counts, detail)


