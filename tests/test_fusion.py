"""Fusion rules (METHODS §5) on tiny hand-made masks, level sets and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dermx_bench.consensus.fusion import (
    coverage,
    coverage_histogram,
    fuse,
    fuse_levels,
    get_fusion_rule,
    levels_to_coco,
    list_fusion_rules,
)
from dermx_bench.core.errors import RegistryError
from dermx_bench.masks import rle as R

# Three raters who drew, on a 2 x 3 image; n(x) = [[3, 2, 1], [1, 0, 0]]
M1 = np.array([[1, 1, 1], [0, 0, 0]], np.uint8)
M2 = np.array([[1, 1, 0], [1, 0, 0]], np.uint8)
M3 = np.array([[1, 0, 0], [0, 0, 0]], np.uint8)
MASKS = [R.encode(m) for m in (M1, M2, M3)]


def _f(*rows: list[float]) -> np.ndarray:
    return np.array(rows, np.float32)


@pytest.mark.parametrize(
    ("rule", "n_counting", "expected"),
    [
        ("any", 4, _f([1, 1, 1], [1, 0, 0])),
        ("full", 4, _f([1, 0, 0], [0, 0, 0])),
        ("majority", 4, _f([1, 0, 0], [0, 0, 0])),  # n > 2
        ("majority", 3, _f([1, 1, 0], [0, 0, 0])),  # n > 1.5
        ("majority", 5, _f([1, 0, 0], [0, 0, 0])),  # n > 2.5
        ("majority", 6, _f([0, 0, 0], [0, 0, 0])),  # n > 3: nobody reaches it
        ("fuzzy", 4, _f([3 / 4, 2 / 4, 1 / 4], [1 / 4, 0, 0])),
        ("fuzzy", 3, _f([1, 2 / 3, 1 / 3], [1 / 3, 0, 0])),
        ("fuzzy_relative", 4, _f([1, 2 / 3, 1 / 3], [1 / 3, 0, 0])),
    ],
)
def test_rules_hand_computed(rule: str, n_counting: int, expected: np.ndarray) -> None:
    got = fuse(MASKS, n_counting, rule)
    assert got.dtype == np.float32 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(fuse_levels(MASKS, n_counting, rule).to_array(), expected)


def test_default_rule_is_fuzzy() -> None:
    np.testing.assert_array_equal(fuse(MASKS, 4), fuse(MASKS, 4, "fuzzy"))


def test_nobody_drew() -> None:
    for rule in list_fusion_rules():
        np.testing.assert_array_equal(fuse([], 3, rule, size=(2, 3)), np.zeros((2, 3), np.float32))
        assert fuse_levels([], 3, rule, size=(2, 3)).levels == []
    with pytest.raises(ValueError, match="size="):
        fuse([], 3)


def test_errors() -> None:
    with pytest.raises(ValueError, match="smaller than"):
        fuse(MASKS, 2)
    with pytest.raises(ValueError, match="different sizes"):
        fuse([MASKS[0], R.empty(3, 2)], 2)
    with pytest.raises(RegistryError, match="unknown fusion rule 'mean'"):
        fuse(MASKS, 3, "mean")


def test_registry() -> None:
    assert list_fusion_rules() == ["any", "full", "majority", "fuzzy", "fuzzy_relative"]
    assert get_fusion_rule("fuzzy").binary is False
    assert get_fusion_rule("majority").binary is True


def test_levels_nested_and_lossless() -> None:
    fz = fuse_levels(MASKS, 4, "fuzzy")
    assert fz.thresholds == [1, 2, 3] and fz.denominator == 4
    assert fz.areas() == [4, 2, 1]
    np.testing.assert_array_equal(R.decode(fz.levels[0]), [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(R.decode(fz.levels[1]), [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(R.decode(fz.levels[2]), [[1, 0, 0], [0, 0, 0]])
    assert fz.value_of_level(2) == 0.75
    d = fz.to_dict()
    assert d["levels"][0]["size"] == [2, 3] and isinstance(d["levels"][0]["counts"], str)


def test_coverage_and_histogram() -> None:
    np.testing.assert_array_equal(coverage(MASKS), [[3, 2, 1], [1, 0, 0]])
    assert coverage_histogram(MASKS).tolist() == [2, 2, 1, 1]
    assert coverage_histogram([], size=(2, 2)).tolist() == [4]


def test_levels_to_coco() -> None:
    doc = levels_to_coco([("img1", "Plaque", fuse_levels(MASKS, 4)),
                          ("img1", "Scale", fuse_levels(MASKS[:1], 4, "any"))],
                         file_names={"img1": "img1.jpeg"})
    assert doc["images"] == [{"id": 1, "name": "img1", "file_name": "img1.jpeg", "height": 2, "width": 3}]
    assert [c["name"] for c in doc["categories"]] == ["Plaque", "Scale"]
    anns = doc["annotations"]
    assert [(a["category_id"], a["threshold"], a["area"], a["value"]) for a in anns] == [
        (1, 1, 4, 0.25), (1, 2, 2, 0.5), (1, 3, 1, 0.75), (2, 1, 3, 1.0)
    ]
    assert anns[0]["iscrowd"] == 1 and anns[0]["bbox"] == [0.0, 0.0, 3.0, 2.0]


masks_strategy = st.integers(1, 9).flatmap(
    lambda h: st.integers(1, 9).flatmap(
        lambda w: st.lists(arrays(np.uint8, (h, w), elements=st.integers(0, 1)), min_size=0, max_size=5)
        .map(lambda ms: (h, w, ms))
    )
)


@settings(max_examples=120, deadline=None)
@given(masks_strategy, st.integers(0, 3))
def test_rules_match_numpy_definition(case: tuple[int, int, list[np.ndarray]], extra: int) -> None:
    h, w, ms = case
    r = len(ms) + extra
    assume(r > 0)  # fusing needs at least one counting rater
    rl = [R.encode(m) for m in ms]
    n = np.sum(ms, axis=0) if ms else np.zeros((h, w), np.int64)
    d = len(ms)
    expected = {
        "any": n >= 1, "full": (n == d) & (d > 0), "majority": n > r / 2,
        "fuzzy": n / r, "fuzzy_relative": n / max(d, 1),
    }
    for rule in list_fusion_rules():
        exp = expected[rule].astype(np.float32)
        np.testing.assert_array_equal(fuse(rl, r, rule, size=(h, w)), exp)
        fz = fuse_levels(rl, r, rule, size=(h, w))
        np.testing.assert_array_equal(fz.to_array(), exp)
        for outer, inner in zip(fz.levels, fz.levels[1:], strict=False):  # nested
            assert not (R.decode(inner) & ~R.decode(outer).astype(bool)).any()


@settings(max_examples=80, deadline=None)
@given(masks_strategy.filter(lambda c: len(c[2]) > 0), st.integers(1, 4))
def test_identical_raters_fuse_to_that_rater(case: tuple[int, int, list[np.ndarray]], k: int) -> None:
    h, w, ms = case
    m = ms[0]
    rl = [R.encode(m)] * k
    for rule in list_fusion_rules():
        np.testing.assert_array_equal(fuse(rl, k, rule), m.astype(np.float32))
        np.testing.assert_array_equal(fuse_levels(rl, k, rule).to_array(), m.astype(np.float32))


def test_levels_are_canonical_rles_and_uint8() -> None:
    fz = fuse_levels(MASKS, 6, "fuzzy")
    for lv in fz.levels:
        assert lv == R.encode(R.decode(lv))  # same string pycocotools would write
    # values 3/6, 2/6, 1/6 -> round(255 * v), halves up: 128, 85, 43
    np.testing.assert_array_equal(fz.to_uint8(), [[128, 85, 43], [43, 0, 0]])
    assert fz.to_uint8().dtype == np.uint8
    np.testing.assert_array_equal(fuse_levels(MASKS, 3, "any").to_uint8(), [[255, 255, 255], [255, 0, 0]])
