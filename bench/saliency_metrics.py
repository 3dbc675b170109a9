"""Cost of the saliency metrics (METHODS §9) per image at full resolution, beside a model's forward pass.

Per image: a 1200x1600 float32 map (a random 10x13 feature grid upsampled bilinearly, then
divided by its maximum, as a Grad-CAM map of the harness) scored against 20 COCO-RLE masks
(unions of 1-4 random ellipses, areas from ~0.2% to ~40% of the image, as each
characteristic x each rater, fusions and the union are). Cases, interleaved in rounds in one
process (the figure is the median over rounds):

- ``from_map only``: the per-image precomputation alone (``MapStats.from_map``);
- ``metrics``: ``MapStats.from_map`` once, then ``score_mask(stats, rle)`` for each mask
  (all seven metrics, pointing game without tolerance), masks read from their RLEs;
- ``metrics+tol``: the same with the pointing game's tolerance at 15 pixels;
- ``metrics(arrays)``: the same with each mask decoded to a (height, width) array first;
- ``score_map fuzzy`` / ``score_map all``: the harness's scorer
  (:func:`dermx_bench.consensus.map_scores.score_map`) on an image with 3 raters x
  (masks / 3) characteristics plus the union, against each rater and the fuzzy fusion
  (binarised at 1/2 for the saliency metrics): the fuzzy metrics only
  (``saliency=False``), then every metric (what a run computes per image);
- ``resnet50 bs1`` / ``resnet50 bs16``: timm ``resnet50`` (random weights, eval,
  ``torch.inference_mode``) on random 300x400 inputs, per image at batch 1 and the per-image
  share of batch 16.

Goal (issue 16): all metrics together cost less per image than the model's forward pass.

Usage: python bench/saliency_metrics.py [--rounds 3] [--images 4] [--masks 20]
                                        [--size 1200x1600] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from dermx_bench.consensus.map_scores import score_map
from dermx_bench.consensus.references import ImageReference
from dermx_bench.core.names import UNION
from dermx_bench.masks import rle as R
from dermx_bench.masks.saliency import MapStats, score_mask


def make_map(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    import torch

    grid = torch.from_numpy(rng.random((1, 1, 10, 13), dtype=np.float32))
    up = torch.nn.functional.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
    a = up[0, 0].numpy()
    return a / a.max()


def make_mask(rng: np.random.Generator, height: int, width: int, area: float) -> np.ndarray:
    """Union of 1-4 random ellipses covering about ``area`` of the image."""
    rows, cols = np.ogrid[:height, :width]
    mask = np.zeros((height, width), dtype=bool)
    k = int(rng.integers(1, 5))
    for _ in range(k):
        r = np.sqrt(area * height * width / k / np.pi)
        ry, rx = r * rng.uniform(0.6, 1.6), r * rng.uniform(0.6, 1.6)
        cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
        mask |= ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0
    return mask


def make_ref(rles: list, height: int, width: int) -> ImageReference:
    """An image whose 3 raters drew ``len(rles) // 3`` characteristics (the masks in turn)."""
    raters = ["r1", "r2", "r3"]
    masks: dict[str, dict[str, R.RLE]] = {}
    for k in range(len(rles) // 3):
        masks[f"c{k}"] = {r: rles[3 * k + j] for j, r in enumerate(raters)}
    masks[UNION] = {r: R.merge([m[r] for m in masks.values()]) for r in raters}
    return ImageReference("bench", height, width, None, raters, dict.fromkeys(raters, "x"), masks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--masks", type=int, default=20)
    ap.add_argument("--size", default="1200x1600", help="height x width of the photographs")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    height, width = (int(v) for v in args.size.split("x"))

    import timm
    import torch

    from dermx_bench.core.numeric import flush_denormal

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    maps = [make_map(rng, height, width) for _ in range(args.images)]
    areas = np.exp(rng.uniform(np.log(0.002), np.log(0.4), size=(args.images, args.masks)))
    masks = [[make_mask(rng, height, width, float(f)) for f in row] for row in areas]
    rles = [[R.encode(m.astype(np.uint8)) for m in row] for row in masks]
    mean_area = float(np.mean([m.mean() for row in masks for m in row]))
    model = timm.create_model("resnet50", pretrained=False, num_classes=6).eval()
    x1 = torch.randn(1, 3, 300, 400)
    x16 = torch.randn(16, 3, 300, 400)

    def metrics(tolerance: int = 0, decode: bool = False) -> float:
        t0 = time.perf_counter()
        for a, row in zip(maps, rles, strict=True):
            stats = MapStats.from_map(a)
            for r in row:
                score_mask(stats, R.decode(r) if decode else r, tolerance=tolerance)
        return (time.perf_counter() - t0) / len(maps)

    refs = [make_ref(row, height, width) for row in rles]

    def scorer(saliency: bool) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for a, ref in zip(maps, refs, strict=True):
                score_map(ref, a, saliency=saliency)
            return (time.perf_counter() - t0) / len(maps)
        return run

    def forward(x: torch.Tensor) -> Callable[[], float]:
        def run() -> float:
            with torch.inference_mode():
                t0 = time.perf_counter()
                model(x)
                return (time.perf_counter() - t0) / x.shape[0]
        return run

    def precompute() -> float:
        t0 = time.perf_counter()
        for a in maps:
            MapStats.from_map(a)
        return (time.perf_counter() - t0) / len(maps)

    cases: dict[str, Callable[[], float]] = {
        "from_map only": precompute,
        "metrics": metrics,
        "metrics+tol": lambda: metrics(tolerance=15),
        "metrics(arrays)": lambda: metrics(decode=True),
        "score_map fuzzy": scorer(False),
        "score_map all": scorer(True),
        "resnet50 bs1": forward(x1),
        "resnet50 bs16": forward(x16),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    with flush_denormal():
        for fn in cases.values():  # warm-up
            fn()
        for i in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(fn())
            print(f"round {i + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1] * 1e3:.0f} ms" for k, v in times.items()))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{height}x{width} map, {args.masks} RLE masks per image (mean area {mean_area:.1%}), "
          f"{args.images} images, {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(f"{'case':<18}{'ms / image':>12}")
    for k, v in med.items():
        print(f"{k:<18}{v * 1e3:>12.1f}")
    for model_case in ("resnet50 bs1", "resnet50 bs16"):
        for m in ("metrics", "metrics+tol", "metrics(arrays)"):
            per_round = [a / b for a, b in zip(times[m], times[model_case], strict=True)]
            print(f"{m} / {model_case} forward: {statistics.median(per_round):.3f} (median per round; "
                  f"max {max(per_round):.3f})")
    new_metrics = med["score_map all"] - med["score_map fuzzy"]
    for model_case in ("resnet50 bs1", "resnet50 bs16"):
        per_round = [a / b for a, b in zip(times["score_map all"], times[model_case], strict=True)]
        print(f"score_map all / {model_case} forward: {statistics.median(per_round):.3f} (median per round; "
              f"max {max(per_round):.3f}); the new metrics' share (all - fuzzy): {new_metrics / med[model_case]:.3f}")
    goal = med["metrics"] < min(med["resnet50 bs1"], med["resnet50 bs16"])
    print(f"goal (all metrics < forward pass per image): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
