"""The one statistics module: every estimator against an independent computation.

References are plain-Python loops and the ``statistics`` module, written here, and hand
cases whose answers are known; never the functions under test.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dermx_bench.results.figures import EMPTY_STAT
from dermx_bench.stats.estimators import (
    cluster_bootstrap_ci,
    compare,
    image_stat,
    mean_std,
    paired_bootstrap,
    pooled_stat,
)

unit = st.floats(0, 1, allow_nan=False)


def _loop_image_interval(v: list[float], seed: int, n_boot: int) -> tuple[float, float]:
    """Resample the values one resample at a time; percentiles by sorting and interpolating."""
    gen = np.random.default_rng(seed)
    means = sorted(statistics.fmean(v[int(j)] for j in gen.integers(0, len(v), size=len(v)))
                   for _ in range(n_boot))

    def pct(q: float) -> float:
        pos = q * (n_boot - 1)
        lo = math.floor(pos)
        return means[lo] + (pos - lo) * (means[min(lo + 1, n_boot - 1)] - means[lo])

    return pct(0.025), pct(0.975)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(unit, st.none(), st.just(math.nan)), min_size=1, max_size=30), st.integers(0, 99))
def test_image_stat_matches_a_plain_loop(values: list[float | None], seed: int) -> None:
    v = [x for x in values if x is not None and not math.isnan(x)]
    assume(v)
    s = image_stat(values, seed, 300)
    assert s.n == len(v)
    assert s.mean == pytest.approx(statistics.fmean(v), abs=1e-12)
    if len(v) > 1:
        assert s.std == pytest.approx(statistics.stdev(v), abs=1e-12)  # ddof 1
    else:
        assert s.std is None
    lo, hi = _loop_image_interval(v, seed, 300)
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi), abs=1e-12)


def test_image_stat_hand_cases() -> None:
    assert image_stat([], 0, 100) == EMPTY_STAT
    assert image_stat([None, math.nan], 0, 100) == EMPTY_STAT
    s = image_stat([0.4, 0.4, 0.4], 3, 200)
    assert (s.mean, s.std, s.ci_low, s.ci_high, s.n) == (pytest.approx(0.4), pytest.approx(0.0, abs=1e-15),
                                                        pytest.approx(0.4), pytest.approx(0.4), 3)
    no_interval = image_stat([0.2, 0.6], 0, 0)
    assert no_interval.mean == pytest.approx(0.4) and no_interval.ci_low is None and no_interval.ci_high is None
    assert no_interval.std == pytest.approx(math.sqrt(0.08))  # (0.2² + 0.2²) / (2 − 1)


def _loop_cluster_interval(values: list[float], groups: list[str], seed: int, n_boot: int) -> tuple[float, float]:
    """Resample the groups, pool every value of the drawn groups, take the percentiles."""
    names = sorted({g for g, v in zip(groups, values, strict=True) if not math.isnan(v)})
    by = {g: [v for gg, v in zip(groups, values, strict=True) if gg == g and not math.isnan(v)] for g in names}
    gen = np.random.default_rng(seed)
    means = []
    for row in gen.integers(0, len(names), size=(n_boot, len(names))):
        pooled = [v for j in row for v in by[names[int(j)]]]
        means.append(sum(pooled) / len(pooled))
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.one_of(unit, st.just(math.nan))), min_size=1, max_size=25),
       st.integers(0, 50))
def test_cluster_bootstrap_matches_a_plain_loop(pairs: list[tuple[str, float]], seed: int) -> None:
    groups = [g for g, _ in pairs]
    values = [v for _, v in pairs]
    assume(any(not math.isnan(v) for v in values))
    lo, hi = cluster_bootstrap_ci(np.array(values), np.array(groups), n_boot=200, seed=seed)
    assert (lo, hi) == pytest.approx(_loop_cluster_interval(values, groups, seed, 200), abs=1e-12)


def test_pooled_stat_hand_cases() -> None:
    # image a: pairs 0.1, 0.2 (and one undefined); b: 0.9, 0.8; c: 0.5 -> pooled over the 5 pairs
    values = np.array([0.1, 0.2, np.nan, 0.9, 0.8, 0.5])
    groups = np.array(["a", "a", "a", "b", "b", "c"])
    s = pooled_stat(values, groups)
    assert s.n == 5 and s.mean == pytest.approx(0.5)
    assert s.std == pytest.approx(statistics.stdev([0.1, 0.2, 0.9, 0.8, 0.5]))
    assert s.ci_low is not None and s.ci_high is not None
    assert 0.15 - 1e-9 <= s.ci_low <= s.ci_high <= 0.85 + 1e-9  # between the images' own means
    assert pooled_stat(values, groups) == s  # fixed seed
    empty = pooled_stat(np.array([np.nan]), np.array([1]))
    assert empty == EMPTY_STAT
    same = pooled_stat(np.full(10, 0.3), np.arange(10))
    assert same.ci_low == pytest.approx(0.3) and same.ci_high == pytest.approx(0.3)


def test_pooled_and_image_means_differ_as_documented() -> None:
    """Pooling weighs an image by its pairs; the image mean weighs every image once."""
    values = np.array([1.0, 1.0, 1.0, 0.0])  # image a has 3 pairs at 1, image b one pair at 0
    groups = np.array(["a", "a", "a", "b"])
    assert pooled_stat(values, groups).mean == pytest.approx(0.75)
    assert image_stat([1.0, 0.0], 0, 0).mean == pytest.approx(0.5)


def test_mean_std() -> None:
    v = np.array([0.1, np.nan, 0.4, 0.7])
    assert mean_std(v, 0) == pytest.approx((0.4, statistics.pstdev([0.1, 0.4, 0.7])))
    assert mean_std(v, 1) == pytest.approx((0.4, statistics.stdev([0.1, 0.4, 0.7])))
    m, s = mean_std(np.array([0.3]), 1)
    assert m == pytest.approx(0.3) and math.isnan(s)
    assert all(math.isnan(x) for x in mean_std(np.array([np.nan]), 0))


@pytest.mark.parametrize(
    ("value", "reference", "difference", "ratio"),
    [(0.6, 0.4, 0.2, 1.5), (0.2, 0.0, 0.2, None), (None, 0.4, None, None), (0.3, None, None, None),
     (0.0, 0.5, -0.5, 0.0)],
)
def test_compare(value: float | None, reference: float | None, difference: float | None, ratio: float | None) -> None:
    c = compare(value, reference)
    assert c.difference == (None if difference is None else pytest.approx(difference))
    assert c.ratio == (None if ratio is None else pytest.approx(ratio))


def test_paired_bootstrap_hand_cases() -> None:
    same = {f"i{k}": 0.5 for k in range(10)}
    r = paired_bootstrap(same, same, seed=1, n_boot=200)
    assert r.n_images == 10 and r.difference == 0 and r.ci_low == r.ci_high == 0
    assert r.p_value == 1.0 and r.significant(0.05) is False

    up = {f"i{k}": 0.6 for k in range(10)}
    r = paired_bootstrap(up, same, seed=1, n_boot=999)
    assert r.difference == pytest.approx(0.1) and r.ci_low == pytest.approx(0.1)
    assert r.p_value == pytest.approx(2 / 1000) and r.significant(0.05) is True

    assert paired_bootstrap({"a": 0.5}, {"b": 0.5}).difference is None
    one = paired_bootstrap({"a": 0.7, "b": None}, {"a": 0.5, "b": 0.1})
    assert one.n_images == 1 and one.difference == pytest.approx(0.2) and one.p_value is None
    with pytest.raises(ValueError):
        paired_bootstrap(up, same, n_boot=0)


def test_paired_bootstrap_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(5)
    a = {f"i{k}": float(x) for k, x in enumerate(rng.random(30))}
    b = {f"i{k}": float(x) for k, x in enumerate(rng.random(30) * 0.9)}
    r = paired_bootstrap(a, b, seed=7, n_boot=2500)
    keys = sorted(a)
    d = np.array([a[k] - b[k] for k in keys])
    gen = np.random.default_rng(7)
    means = []
    for start in range(0, 2500, 1000):
        idx = gen.integers(0, 30, size=(min(1000, 2500 - start), 30))
        means += [float(d[row].mean()) for row in idx]
    means_arr = np.array(means)
    assert r.difference == pytest.approx(d.mean())
    assert (r.ci_low, r.ci_high) == pytest.approx(tuple(np.percentile(means_arr, [2.5, 97.5])))
    below, above = (means_arr <= 0).sum(), (means_arr >= 0).sum()
    assert r.p_value == pytest.approx(min(1, 2 * (min(below, above) + 1) / 2501))
    assert paired_bootstrap(a, b, seed=7, n_boot=2500) == r  # deterministic




def test_at_floor_and_floor_marks_by_hand() -> None:
    from dermx_bench.results.figures import Stat
    from dermx_bench.stats.estimators import at_floor, floor_marks

    def stat(mean: float, lo: float | None = None) -> Stat:
        return Stat(mean=mean, std=None, ci_low=lo, ci_high=None if lo is None else mean + (mean - lo), n=5)

    model = stat(0.40, 0.30)
    assert at_floor(model, stat(0.30)) is True  # the floor sits at the lower end of the interval
    assert at_floor(model, stat(0.29)) is False
    assert at_floor(model, stat(0.90)) is True  # a floor above the model marks it too
    assert at_floor(stat(0.40), stat(0.39)) is False and at_floor(stat(0.40), stat(0.40)) is True  # no interval: the mean
    assert at_floor(model, None) is None
    values = {"f1": model, "sensitivity": stat(0.6, 0.5), "specificity": stat(0.8, 0.7)}
    floors = {
        "ones": {"f1": stat(0.2), "sensitivity": stat(1.0), "specificity": stat(0.0)},
        "gaussian": {"f1": stat(0.35), "sensitivity": stat(0.55), "specificity": stat(0.75)},
        "zeros": {"f1": stat(0.0), "sensitivity": stat(0.0), "specificity": stat(1.0)},
    }
    # ones reaches sensitivity only, zeros specificity only: neither marks the pair; the gaussian
    # reaches both (0.55 >= 0.5, 0.75 >= 0.7) and F1 (0.35 >= 0.3)
    assert floor_marks(values, floors) == {"f1": ["gaussian"], "sensitivity": ["gaussian"],
                                           "specificity": ["gaussian"]}
    floors["gaussian"]["specificity"] = stat(0.65)
    assert floor_marks(values, floors) == {"f1": ["gaussian"], "sensitivity": [], "specificity": []}


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(1, 2500), st.integers(0, 2**32 - 1))
def test_reused_draws_give_the_same_means_bit_for_bit(n: int, n_boot: int, seed: int) -> None:
    from dermx_bench.stats.estimators import _resampled_means, _seeded_means

    v = np.random.default_rng(seed).random(n)
    assert np.array_equal(_seeded_means(v, seed, n_boot), _resampled_means(v, np.random.default_rng(seed), n_boot))
    assert np.array_equal(_seeded_means(v[::-1].copy(), seed, n_boot),  # drawn again from the cache
                          _resampled_means(v[::-1].copy(), np.random.default_rng(seed), n_boot))
