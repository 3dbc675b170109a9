"""The model as one more dermatologist (issue 10): its percentile among the raters, and an
equivalence test with the like-for-like reference.

- **Percentile**: the model's figure among the raters' own figures (each rater's outline
  scored against the fusion of the others, METHODS §8): the share of raters strictly
  below it plus half of those equal to it, x 100 (``scipy.stats.percentileofscore`` with
  ``kind="mean"``). 100 = above every dermatologist.
- **Equivalence** (TOST, two one-sided Welch t tests on the two figures' means, standard
  deviations and image counts): H0 is that the model's mean differs from the reference's
  by ``margin`` or more; ``p = max(p_lower, p_upper)``, equivalent when ``p < alpha``. The
  default margin, :data:`DEFAULT_MARGIN`, is 0.05 of F1 (a difference a dermatologist
  would not see between two outlines).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dermx_bench.results.analyses import AsDermatologist
from dermx_bench.results.figures import Stat

DEFAULT_MARGIN = 0.05
"""Equivalence margin of the TOST, in units of the metric (F1)."""
ALPHA = 0.05
"""Level of the equivalence test."""


def percentile_among(value: float, others: Sequence[float]) -> float | None:
    """The share of ``others`` below ``value`` (ties counting half), x 100; None with no other."""
    if not others:
        return None
    below = sum(1 for o in others if o < value)
    equal = sum(1 for o in others if o == value)
    return 100.0 * (below + 0.5 * equal) / len(others)


def welch_tost(model: Stat, reference: Stat, margin: float = DEFAULT_MARGIN) -> float | None:
    """p of the two one-sided Welch t tests that ``|mean_model − mean_reference| < margin``.

    None when either mean or std is undefined, or both standard errors are 0 (then the
    equivalence is decided by the means alone, which a test cannot do). ``margin`` > 0.
    """
    from scipy.stats import t as student_t

    if margin <= 0:
        raise ValueError(f"the equivalence margin must be positive, got {margin}")
    parts = (model.mean, model.std, reference.mean, reference.std)
    if any(p is None for p in parts) or model.n < 2 or reference.n < 2:
        return None
    m1, s1, m2, s2 = (float(p) for p in parts)  # type: ignore[arg-type]
    v1, v2 = s1 * s1 / model.n, s2 * s2 / reference.n
    se = math.sqrt(v1 + v2)
    if se == 0:
        return None
    df = (v1 + v2) ** 2 / (v1 * v1 / (model.n - 1) + v2 * v2 / (reference.n - 1))
    diff = m1 - m2
    p_lower = float(student_t.sf((diff + margin) / se, df))  # H0: diff <= -margin
    p_upper = float(student_t.cdf((diff - margin) / se, df))  # H0: diff >= +margin
    return min(1.0, max(p_lower, p_upper))


def place_among(
    characteristic: str, model: Stat, reference: Stat | None, raters: Mapping[str, float | None],
    margin: float = DEFAULT_MARGIN,
) -> AsDermatologist:
    """The model's figure (``model``, against all raters' fusion) among the raters' own
    (``raters``: rater -> mean, None where undefined) and against the like-for-like
    ``reference``: percentile and TOST (:func:`percentile_among`, :func:`welch_tost`)."""
    others = {r: v for r, v in raters.items() if v is not None}
    pct = None if model.mean is None else percentile_among(model.mean, list(others.values()))
    p = None if reference is None else welch_tost(model, reference, margin)
    return AsDermatologist(
        characteristic=characteristic, model=model.mean, reference=None if reference is None else reference.mean,
        raters=dict(raters), percentile=pct, margin=margin, tost_p=p, equivalent=None if p is None else p < ALPHA,
    )


def as_dermatologist(
    fusion: Mapping[str, Stat], reference: Mapping[str, Stat], raters: Mapping[str, Mapping[str, float | None]],
    margin: float = DEFAULT_MARGIN,
) -> list[AsDermatologist]:
    """:func:`place_among` for every characteristic of ``fusion`` (the model's fusion figure of
    one metric, by characteristic), with the like-for-like ``reference`` and the ``raters``'
    figures of that metric by characteristic (either may lack a characteristic)."""
    return [place_among(ch, st, reference.get(ch), raters.get(ch, {}), margin) for ch, st in fusion.items()]
