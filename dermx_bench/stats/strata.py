"""A run's per-image figures split by image strata (issue 10): disease, correct, skin tone, age.

Per stratum, a metric is an :func:`~dermx_bench.stats.estimators.image_stat` over the
stratum's images (mean, sample std, image-bootstrap 95% interval, ``n``). Across the strata
of a grouping the test is **Kruskal-Wallis** (``scipy.stats.kruskal``: do the strata's
per-image values come from one distribution?), over the strata with at least one value;
none with fewer than two such strata, or when every value is equal (H undefined).
A stratum with fewer than ``min_n`` images is kept and flagged ``few``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dermx_bench.results.analyses import StrataTest, StratumRow
from dermx_bench.results.figures import stat_kind
from dermx_bench.stats.estimators import DEFAULT_N_BOOT, DEFAULT_SEED, image_stat

if TYPE_CHECKING:
    import pandas as pd

MIN_N = 10
"""Fewest images of a stratum before its figures carry a warning."""

KRUSKAL = "Kruskal-Wallis H test across strata (scipy.stats.kruskal), per characteristic and metric"


def kruskal_p(groups: Sequence[np.ndarray]) -> tuple[float | None, float | None, int]:
    """(H, p, number of strata with values) of the Kruskal-Wallis test; (None, None, k) when undefined."""
    from scipy.stats import kruskal

    nonempty = [g for g in groups if g.size]
    k = len(nonempty)
    if k < 2 or np.ptp(np.concatenate(nonempty)) == 0:
        return None, None, k
    res = kruskal(*nonempty)
    return float(res.statistic), float(res.pvalue), k


def stratify(
    values: pd.DataFrame, strata: Mapping[str, str | None], by: str, characteristics: Sequence[str],
    metrics: Sequence[str], *, min_n: int = MIN_N, seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[StratumRow], list[StrataTest]]:
    """Rows and tests of one grouping.

    ``values``: per (characteristic, image) metric table
    (:func:`dermx_bench.stats.paired.per_image_values`); ``strata``: image -> stratum label
    (None: unknown, left out of this grouping). Strata in sorted order.
    """
    labels = sorted({s for s in strata.values() if s is not None})
    rows: list[StratumRow] = []
    tests: list[StrataTest] = []
    present = set(values.index.get_level_values(0))
    for ch in characteristics:
        if ch not in present:
            continue
        block = values.xs(ch, level="characteristic")
        group_of = np.array([strata.get(str(i)) for i in block.index], dtype=object)
        for m in metrics:
            col = block[m].to_numpy(np.float64)
            groups = []
            for s in labels:
                v = col[group_of == s]
                v = v[~np.isnan(v)]
                groups.append(v)
                st = image_stat(v.tolist(), seed, n_boot, stat_kind(m))
                rows.append(StratumRow(by=by, stratum=s, characteristic=ch, metric=m, stat=st, few=st.n < min_n))
            h, p, k = kruskal_p(groups)
            tests.append(StrataTest(by=by, characteristic=ch, metric=m, n_strata=k, statistic=h, p_value=p))
    return rows, tests
