"""The like-for-like human reference and the trivial-map floors (METHODS §8), and the map forms they use."""

from __future__ import annotations

import math
from fractions import Fraction as Fr

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dermx_bench.consensus.floors import centred_gaussian, floor_scores, list_floors
from dermx_bench.consensus.human_reference import seat_scores, seat_scores_decoded
from dermx_bench.consensus.map_scores import score_map
from dermx_bench.consensus.maps import BinaryMap, DenseMap, ScoredMap, SeparableMap
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import METRIC_NAMES, UNION
from dermx_bench.masks import rle
from dermx_bench.masks.metrics import fuzzy_scores
from dermx_bench.stats.aggregate import aggregate_scores, seated_scores


def _ref(masks: dict[str, dict[str, np.ndarray]], raters: list[str], h: int, w: int,
         image: str = "img") -> ImageReference:
    """An image's references from dense 0/1 masks; ``union`` = each rater's union of what they drew."""
    enc = {ch: {r: rle.encode(m) for r, m in d.items()} for ch, d in masks.items() if d}
    union: dict[str, rle.RLE] = {}
    for r in raters:
        own = [m for d in masks.values() for rr, m in d.items() if rr == r]
        if own:
            union[r] = rle.encode(np.logical_or.reduce(own).astype(np.uint8))
    enc[UNION] = union
    return ImageReference(image, h, w, "Psoriasis", raters, {r: "Psoriasis" for r in raters}, enc)


def _px(h: int, w: int, cells: list[tuple[int, int]]) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for r, c in cells:
        m[r, c] = 1
    return m


def _hand_ref() -> ImageReference:
    return _ref({
        "X": {"a": _px(2, 3, [(0, 0), (0, 1)]), "b": _px(2, 3, [(0, 1), (1, 1)])},
        "Y": {"a": _px(2, 3, [(1, 2)]), "c": _px(2, 3, [(0, 2), (1, 2)])},
    }, ["a", "b", "c"], 2, 3)


def test_hand_computed_reference() -> None:
    """Three raters, two characteristics, a 2 x 3 image (N = 6 pixels, (row, col)):

    - a drew X = {(0,0), (0,1)} and Y = {(1,2)}: U_a = {(0,0), (0,1), (1,2)} (3 px);
    - b drew X = {(0,1), (1,1)}:                 U_b = {(0,1), (1,1)} (2 px);
    - c drew Y = {(0,2), (1,2)}:                 U_c = {(0,2), (1,2)} (2 px).

    Binary A against binary S: F1 = 2|A∩S| / (|A|+|S|), sens = |A∩S| / |S|,
    spec = (N - |A∪S|) / (N - |S|). Fusion of the two others: F = n / 2.

    Seat a (U_a, 3 px) against b and c:
      X: vs X_b: ∩ 1 -> F1 2/5, sens 1/2, spec (6-4)/4 = 1/2.
         fusion F = 1/2 on X_b (ΣF 1): Σmin(A,F) = 1/2 -> F1 1/(3+1) = 1/4, sens 1/2;
         Σmin(1-A,1-F) = 1/2 at (1,1) + 1 at (0,2), (1,0) = 5/2 over Σ(1-F) = 5 -> 1/2.
      Y: vs Y_c: ∩ 1 -> 2/5, 1/2, 1/2; fusion 1/2 on Y_c: 1/4, 1/2, 5/2 / 5 = 1/2.
      union: vs U_b: ∩ 1 -> 2/5, 1/2, 1/2; vs U_c: ∩ 1 -> 2/5, 1/2, 1/2;
         fusion 1/2 on (0,1), (1,1), (0,2), (1,2) (ΣF 2): Σmin = 1 -> F1 2/5, sens 1/2,
         spec (1/2 + 1/2 + 1) / 4 = 1/2.
    Seat b (U_b, 2 px) against a and c:
      X: vs X_a: ∩ 1 -> 1/2, 1/2, (6-3)/4 = 3/4; fusion 1/2 on X_a: Σmin 1/2 -> 1/3, 1/2,
         (1/2 + 3) / 5 = 7/10.
      Y: vs Y_a: ∩ 0 -> 0, 0, (6-3)/5 = 3/5; vs Y_c: 0, 0, (6-4)/4 = 1/2;
         fusion F = 1 at (1,2), 1/2 at (0,2) (ΣF 3/2): Σmin 0 -> 0, 0, (1/2 + 2) / (9/2) = 5/9.
      union: vs U_a: ∩ 1 -> 2/5, 1/3, (6-4)/3 = 2/3; vs U_c: 0, 0, 1/2;
         fusion 1/2 at (0,0), (0,1), (0,2), 1 at (1,2) (ΣF 5/2): Σmin 1/2 -> 1/(2+5/2) = 2/9,
         sens 1/5, spec (1/2 + 1/2 + 1) / (7/2) = 4/7.
    Seat c (U_c, 2 px) against a and b:
      X: vs X_a and X_b: ∩ 0 -> 0, 0, 1/2 each; fusion 1/2, 1, 1/2 at (0,0), (0,1), (1,1):
         Σmin 0 -> 0, 0, (1/2 + 1/2 + 1) / 4 = 1/2.
      Y: vs Y_a: ∩ 1 -> 2/3, 1, (6-2)/5 = 4/5; fusion 1/2 at (1,2): Σmin 1/2 -> 1/(5/2) = 2/5,
         sens 1, spec 4 / (11/2) = 8/11.
      union: vs U_a: ∩ 1 -> 2/5, 1/3, 2/3; vs U_b: 0, 0, 1/2;
         fusion 1/2 at (0,0), (1,1), (1,2), 1 at (0,1): Σmin 1/2 -> 2/9, 1/5, 4/7.

    The image's figure is the mean over the seats (per rater: of each seat's mean over r):
      X per rater F1 (2/5 + 1/2 + 0)/3 = 3/10, sens 1/3, spec (1/2 + 3/4 + 1/2)/3 = 7/12;
      X fusion F1 (1/4 + 1/3 + 0)/3 = 7/36, sens 1/3, spec (1/2 + 7/10 + 1/2)/3 = 17/30;
      Y per rater F1 (2/5 + 0 + 2/3)/3 = 16/45, sens 1/2, spec (1/2 + 11/20 + 4/5)/3 = 37/60;
      Y fusion F1 (1/4 + 0 + 2/5)/3 = 13/60, sens 1/2, spec (1/2 + 5/9 + 8/11)/3;
      union per rater F1 (2/5 + 1/5 + 1/5)/3 = 4/15, sens (1/2 + 1/6 + 1/6)/3 = 5/18,
        spec (1/2 + 7/12 + 7/12)/3 = 5/9;
      union fusion F1 (2/5 + 2/9 + 2/9)/3 = 38/135, sens (1/2 + 1/5 + 1/5)/3 = 3/10,
        spec (1/2 + 4/7 + 4/7)/3 = 23/42.
    For contrast, the pairwise table (§6) gives X F1 (1/2 + 1/2 + 0 x 4)/6 = 1/6: c did not
    draw X and scores 0 with both others.
    """
    expected = {
        ("X", "per_rater"): (Fr(3, 10), Fr(1, 3), Fr(7, 12)),
        ("X", "fusion"): (Fr(7, 36), Fr(1, 3), Fr(17, 30)),
        ("Y", "per_rater"): (Fr(16, 45), Fr(1, 2), Fr(37, 60)),
        ("Y", "fusion"): (Fr(13, 60), Fr(1, 2), (Fr(1, 2) + Fr(5, 9) + Fr(8, 11)) / 3),
        (UNION, "per_rater"): (Fr(4, 15), Fr(5, 18), Fr(5, 9)),
        (UNION, "fusion"): (Fr(38, 135), Fr(3, 10), Fr(23, 42)),
    }
    seats = seat_scores([_hand_ref()])
    assert sorted(seats["seat"].unique()) == ["a", "b", "c"]
    b_y = seats[(seats["seat"] == "b") & (seats["characteristic"] == "Y")].set_index("reference")
    assert list(b_y.index) == ["rater:a", "rater:c", "fusion:fuzzy"]
    assert b_y.loc["rater:a", "specificity"] == pytest.approx(3 / 5)
    assert b_y.loc["fusion:fuzzy", "specificity"] == pytest.approx(5 / 9)
    figures = seated_scores(seats, seed=0, n_boot=0)
    assert list(figures) == ["X", "Y", UNION]
    for (ch, against), values in expected.items():
        stats = getattr(figures[ch], against)
        for m, v in zip(METRIC_NAMES, values, strict=True):
            assert getattr(stats, m).mean == pytest.approx(float(v), abs=1e-12), (ch, against, m)
            assert getattr(stats, m).n == 1
        assert figures[ch].n_images == 1


def _independent_seats(ref: ImageReference) -> pd.DataFrame:
    """Every seat's per-image figures computed here on decoded arrays with ``fuzzy_scores``:
    U_a against each other rater who drew c, and against n / (|R| - 1) of the others."""
    rows = []
    h, w = ref.size
    k = len(ref.raters)
    dec = {ch: {r: rle.decode(m).astype(np.float64) for r, m in d.items()} for ch, d in ref.masks.items()}
    for a in ref.raters:
        own = dec[UNION].get(a, np.zeros((h, w)))
        for ch, d in dec.items():
            others = {r: m for r, m in d.items() if r != a}
            if not others:
                continue
            for r, m in others.items():
                s = fuzzy_scores(own, m)
                rows.append((a, ch, f"rater:{r}", s.f1, s.sensitivity, s.specificity))
            s = fuzzy_scores(own, np.sum(list(others.values()), axis=0) / (k - 1))
            rows.append((a, ch, "fusion:fuzzy", s.f1, s.sensitivity, s.specificity))
    return pd.DataFrame(rows, columns=["seat", "characteristic", "reference", *METRIC_NAMES])


def _random_ref(seed: int, h: int, w: int, n_raters: int) -> ImageReference:
    rng = np.random.default_rng(seed)
    raters = [f"r{i}" for i in range(n_raters)]
    masks: dict[str, dict[str, np.ndarray]] = {}
    for ch in ("Plaque", "Scale", "Papule"):
        for r in raters:
            if rng.random() < 0.5:
                masks.setdefault(ch, {})[r] = (rng.random((h, w)) < rng.random()).astype(np.uint8)
    return _ref(masks, raters, h, w)


def _close(a: object, b: object, tol: float = 1e-9) -> bool:
    fa = math.nan if a is None else float(a)  # type: ignore[arg-type]
    fb = math.nan if b is None else float(b)  # type: ignore[arg-type]
    return (math.isnan(fa) and math.isnan(fb)) or math.isclose(fa, fb, rel_tol=tol, abs_tol=tol)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 9), st.integers(2, 9), st.integers(1, 4))
def test_seats_match_an_independent_dense_computation(seed: int, h: int, w: int, n_raters: int) -> None:
    ref = _random_ref(seed, h, w, n_raters)
    got = seat_scores([ref]).drop(columns=["image", "map_sum", "reference_sum", "all_zero"])
    want = _independent_seats(ref) if n_raters >= 2 else got.iloc[0:0]
    key = ["seat", "characteristic", "reference"]
    assert sorted(map(tuple, got[key].to_numpy().tolist())) == sorted(map(tuple, want[key].to_numpy().tolist()))
    merged = got.merge(want, on=key, suffixes=("", "_want"))
    for m in METRIC_NAMES:
        assert all(_close(x, y) for x, y in zip(merged[m], merged[f"{m}_want"], strict=True)), m
    # the decoded path (a rater's outline as a model's dense map) gives the same rows
    decoded = seat_scores_decoded([ref]).drop(columns=["image", "map_sum", "reference_sum", "all_zero"])
    for m in METRIC_NAMES:
        assert all(_close(x, y, 1e-12) for x, y in zip(got[m], decoded[m], strict=True)), m


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 11), st.integers(1, 11), st.integers(1, 4))
def test_every_map_form_scores_as_its_array(seed: int, h: int, w: int, n_raters: int) -> None:
    """A binary map from its runs, a separable map and a dense map give the rows of the same
    array scored as a model's map (and of ``fuzzy_scores`` on the decoded references)."""
    ref = _random_ref(seed, h, w, n_raters)
    rng = np.random.default_rng(seed + 1)
    binary = BinaryMap.from_rle(rle.encode((rng.random((h, w)) < rng.random()).astype(np.uint8)))
    forms: list[ScoredMap] = [binary, BinaryMap.constant((h, w), 1), BinaryMap.constant((h, w), 0),
             centred_gaussian(h, w), centred_gaussian(h, w, 0.05), SeparableMap(np.ones(h), rng.random(w))]
    for form in forms:
        a = form.to_array()
        got = score_map(ref, form)
        want = score_map(ref, DenseMap(a))
        assert [(r.characteristic, r.reference) for r in got] == [(r.characteristic, r.reference) for r in want]
        for g, d in zip(got, want, strict=True):
            for m in METRIC_NAMES:
                assert _close(getattr(g, m), getattr(d, m)), (type(form).__name__, g, d)
            assert _close(g.map_sum, float(a.sum())) and _close(g.reference_sum, d.reference_sum)
        for g in got:
            if g.reference.startswith("rater:"):
                s = fuzzy_scores(a, rle.decode(ref.masks[g.characteristic][g.reference[6:]]))
            else:
                drawn = ref.drawn(g.characteristic)
                s = fuzzy_scores(a, np.sum([rle.decode(m) for m in drawn.values()], axis=0) / n_raters)
            for m in METRIC_NAMES:
                assert _close(getattr(g, m), getattr(s, m)), (g, s)


def test_binary_map_prefix_counts_ones() -> None:
    m = _px(3, 2, [(1, 0), (2, 0), (0, 1)])  # column-major: 0 1 1 | 1 0 0
    b = BinaryMap.from_rle(rle.encode(m))
    assert b.prefix(np.arange(7)).tolist() == [0, 0, 1, 2, 3, 3, 3]
    assert b.total == 3 and np.array_equal(b.to_array(), m)
    with pytest.raises(ValueError, match="0 or 1"):
        BinaryMap.constant((2, 2), 2)


def test_centred_gaussian_against_its_formula() -> None:
    g = centred_gaussian(5, 8)
    sigma = 0.25 * 5
    rows, cols = np.mgrid[0:5, 0:8]
    want = np.exp(-(((rows - 2.0) ** 2) + ((cols - 3.5) ** 2)) / (2 * sigma**2))
    assert np.allclose(g.to_array(), want, rtol=1e-12, atol=0)
    assert g.to_array().max() == pytest.approx(float(np.exp(-(0.25) / (2 * sigma**2))))  # centre between pixels
    with pytest.raises(ValueError, match="symmetric"):
        SeparableMap(np.array([0.1, 0.5, 0.2]), np.ones(2))


def test_floors_give_what_they_give_for_free() -> None:
    """Ones: sensitivity 1 against every reference; zeros: F1 and sensitivity 0, specificity 1."""
    refs = [_random_ref(s, 6, 7, 3) for s in range(4)]
    refs = [ImageReference(f"img{i}", r.height, r.width, r.gold, r.raters, r.diagnoses, r.masks)
            for i, r in enumerate(refs)]
    rows = floor_scores(refs)
    assert list(rows["floor"].unique()) == list_floors() == ["ones", "gaussian", "zeros"]
    ones, zeros = rows[rows["floor"] == "ones"], rows[rows["floor"] == "zeros"]
    assert (ones["sensitivity"].dropna() == 1.0).all()
    assert (zeros["f1"] == 0.0).all() and (zeros["sensitivity"].dropna() == 0.0).all()
    assert (zeros["specificity"].dropna() == 1.0).all() and zeros["all_zero"].all()
    figures = aggregate_scores(ones.drop(columns="floor"), 0, 0)
    assert figures[UNION].per_rater.sensitivity.mean == 1.0
    # every floor is scored on every image that has references, like a model
    assert rows.groupby("floor")["image"].nunique().tolist() == [4, 4, 4]
