"""On the real v1-2021 annotations: a random network must never look better than a dermatologist.

A randomly initialised ResNet-18's Grad-CAM maps (synthetic photographs at 64 x 64) and a
map of ones are scored exactly as a submission's maps are (``score_map``, then
``aggregate_scores``) on every image that has references, and compared on F1 with the
like-for-like human reference saved by ``agreement --save``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermx_bench.core.names import SCORE_COLUMNS, UNION

pytestmark = pytest.mark.dermx

INPUT = 64
MIN_IMAGES = 10

ONES_ABOVE_REFERENCE = {"Sun damage": (0.70, 0.65)}
"""Where a map of ones beats the like-for-like reference on F1 on v1-2021 (measured: Sun damage
0.720 vs 0.606 over 55 images): the raters outline about 60% of the image there, so a map of ones
gets F1 2 x 0.6 / 1.6 = 0.75 for free. This is what the floors are shown for; the test pins it so
that a change shows. Values: (ones at least, reference at most)."""


def _random_resnet_scores(refs: list, classes: list[str]) -> pd.DataFrame:
    """scores.csv rows of a seeded random ResNet-18's Grad-CAM maps on synthetic photographs."""
    import timm
    import torch

    from dermx_bench.consensus.map_scores import score_map
    from dermx_bench.harness.explainers import get_cam_method
    from dermx_bench.harness.images import geometry, upsample_map
    from dermx_bench.masks import rle
    from dermx_bench.synthetic.images import synth_photo

    torch.manual_seed(0)
    model = timm.create_model("resnet18", pretrained=False, num_classes=len(classes)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    x = np.zeros((len(refs), 3, INPUT, INPUT), np.float32)
    for i, ref in enumerate(refs):  # the photograph painted directly at the input size (stretch)
        unions = list(ref.drawn(UNION).values())
        lesions = None
        if unions:
            full = rle.decode(unions[0] if len(unions) == 1 else rle.merge(unions))
            rows = ((np.arange(INPUT) + 0.5) * ref.height / INPUT).astype(int)
            cols = ((np.arange(INPUT) + 0.5) * ref.width / INPUT).astype(int)
            lesions = full[rows[:, None], cols[None, :]]
        photo = synth_photo(INPUT, INPUT, lesions, ref.gold, np.random.default_rng(i))
        x[i] = (photo.transpose(2, 0, 1) / np.float32(255) - mean) / std
    gradcam = get_cam_method("gradcam")
    targets = [classes.index(r.gold) if r.gold in classes else 0 for r in refs]
    rows_out: list[tuple] = []
    for k in range(0, len(refs), 64):
        cam = gradcam(model, model.get_submodule("layer4"), torch.from_numpy(x[k : k + 64]), targets[k : k + 64])
        for j, ref in enumerate(refs[k : k + 64]):
            full_map = upsample_map(cam.maps[j], geometry(ref.height, ref.width, (INPUT, INPUT), "stretch"))
            rows_out += [tuple(getattr(r, c) for c in SCORE_COLUMNS) for r in score_map(ref, full_map, saliency=False)]
    return pd.DataFrame(rows_out, columns=list(SCORE_COLUMNS))


def test_random_network_and_ones_are_below_the_like_for_like_reference(v1_store: Path, tmp_path: Path) -> None:
    import shutil

    from dermx_bench.consensus.baseline import load_baseline, save_baselines
    from dermx_bench.consensus.references import load_references
    from dermx_bench.stats.aggregate import aggregate_scores
    from dermx_bench.store.db import Store

    db = tmp_path / "v1.db"
    shutil.copyfile(v1_store, db)
    with Store.open(db, write=True) as st:
        save_baselines(st, "2026-01-01T00:00:00+00:00")
        baseline = load_baseline(st)
        refs = load_references(st, "drop")
    classes = sorted({r.gold for r in refs if r.gold})
    model = aggregate_scores(_random_resnet_scores(refs, classes), seed=0, n_boot=0)
    like = baseline.like_for_like
    ones = baseline.floors["ones"].localisation
    checked = [c for c, f in like.items() if c == UNION or f.n_images >= MIN_IMAGES]
    assert UNION in checked and len(checked) >= 12
    def f1(figures: dict, c: str) -> float:
        mean = figures[c].per_rater.f1.mean
        assert mean is not None, c
        return float(mean)

    for c in checked:
        reference = f1(like, c)
        assert f1(model, c) < reference, (c, f1(model, c), reference)
        if c in ONES_ABOVE_REFERENCE:
            at_least, at_most = ONES_ABOVE_REFERENCE[c]
            assert f1(ones, c) >= at_least and reference <= at_most, c
        else:
            assert f1(ones, c) < reference, (c, f1(ones, c), reference)
    # the comparison the issue found misleading: the pairwise table of METHODS §6 puts the
    # dermatologists below the random network on Macule F1; like for like they are above it
    pairwise = baseline.localisation["Macule"].f1.mean
    assert pairwise is not None and pairwise < f1(model, "Macule") < f1(like, "Macule")
