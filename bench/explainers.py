"""Speed and peak memory of every explanation method, for a CNN and a ViT, interleaved in rounds.

Models (random weights, timm ``pretrained=False``, 6 classes): ResNet-50 at the DermX
size 300x400 (channels-last when a scoring run would pick it) and ViT-S/16 at its
native 224x224 (``--vit-size`` for another size it accepts, e.g. 304x400). The methods
run through the harness's registry exactly as a scoring run calls them (default
options unless ``--fast``), on the same synthetic photographs (lesions on skin, so SLIC
finds its superpixels; ImageNet normalisation), each case once per round; the
cases are interleaved (round 1: every model x method, round 2: again, ...) in one
process so that drifting machine load hits every case alike. Figures: the median over
rounds of images/s; the ratio to Grad-CAM on the same model (how many times slower);
peak memory = the largest resident set size (sampled every 2 ms) during the case minus
the resident size just before it, after glibc's ``malloc_trim(0)`` has handed memory freed
by earlier cases back to the system (CPU), or ``torch.cuda.max_memory_allocated`` (CUDA).

Perturbation methods are slow on a CPU by design (ScoreCAM on ResNet-50's layer4 runs
2049 forward passes per image): ``--methods`` picks the cases, and the estimated cost
a scoring run would print is shown beside each measured figure.

Usage:
    python bench/explainers.py [--rounds 2] [--images 2] [--methods gradcam,integrated-gradients,...]
                               [--models resnet50,vit_small_patch16_224] [--vit-size 224]
                               [--device cpu|cuda] [--threads N] [--fast]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rounds import PeakRss, rss_mb  # noqa: E402  (bench/ is this script's folder)

METHODS = ("gradcam", "scorecam", "integrated-gradients", "smoothgrad", "kernel-shap")
FAST = {"integrated-gradients": {"steps": 10}, "smoothgrad": {"n_samples": 5},
        "kernel-shap": {"n_samples": 50}}
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def release_freed_memory() -> None:
    """Give memory that earlier cases freed back to the system (glibc), so RSS starts low."""
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: figures then include memory cached by earlier cases
        pass


class Case:
    """One model with its target layer and inputs, ready to run any method."""

    def __init__(self, arch: str, size: tuple[int, int], n_images: int, device: str) -> None:
        import timm
        import torch

        from dermx_bench.harness.device import choose_memory_format
        from dermx_bench.harness.target_layer import choose_target_layer

        torch.manual_seed(0)
        kwargs: dict[str, Any] = {"img_size": size} if "vit" in arch else {}
        self.arch, self.size, self.device = arch, size, device
        self.model: Any = timm.create_model(arch, pretrained=False, num_classes=6, **kwargs).eval().requires_grad_(False)
        chosen = choose_target_layer(self.model, None, size, Path(f"<{arch}>"))
        self.layer_name, self.layout = chosen.path, chosen.layout
        self.format = choose_memory_format(self.model, size, device, "auto")
        fmt = torch.channels_last if self.format == "channels_last" else torch.contiguous_format
        self.model.to(device).to(memory_format=fmt)
        self.layer = self.model.get_submodule(self.layer_name)
        from dermx_bench.synthetic.images import training_set

        photos, labels, _ = training_set(n_images, size, seed=1, lesions="diagnosis", marker="diagnosis")
        p = torch.from_numpy(photos).float().permute(0, 3, 1, 2) / 255.0
        x = (p - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        self.x = x.to(device).contiguous(memory_format=fmt)
        self.targets = [int(v) for v in labels]

    def run(self, method: str, options: dict[str, Any]) -> dict[str, Any]:
        import torch

        from dermx_bench.harness.explainers import get_explainer

        e = get_explainer(method)
        sync = torch.cuda.synchronize if self.device == "cuda" else (lambda: None)
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        release_freed_memory()
        before = rss_mb()
        with PeakRss() as peak:
            t0 = time.perf_counter()
            out = e(self.model, self.layer, self.x, self.targets, options=options, mean=MEAN, std=STD,
                    reshape=self.layout.to_nchw)
            sync()
            seconds = time.perf_counter() - t0
        mem = torch.cuda.max_memory_allocated() / 2**20 if self.device == "cuda" else peak.peak - before
        assert out.maps.shape[0] == len(self.x)
        return {"seconds": seconds, "images_per_s": len(self.x) / seconds, "peak_mb": mem,
                "passes": e.passes_per_image(options, self.layout.channels)}


def main() -> None:
    import torch

    from dermx_bench.core.numeric import flush_denormal
    from dermx_bench.harness.explainers import get_explainer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--images", type=int, default=2, help="images per case and round")
    ap.add_argument("--methods", default=",".join(m for m in METHODS if m != "scorecam"))
    ap.add_argument("--models", default="resnet50,vit_small_patch16_224")
    ap.add_argument("--vit-size", default="224", help="ViT input: 224 or HxW, e.g. 304x400")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--fast", action="store_true", help="fewer steps/samples (a smoke test; figures not comparable)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    vit = tuple(int(v) for v in args.vit_size.split("x")) if "x" in args.vit_size else (int(args.vit_size),) * 2
    methods = args.methods.split(",")
    for m in methods:
        get_explainer(m)  # fail early on a typo
    cases = [Case(a, (vit[0], vit[1]) if "vit" in a else (300, 400), args.images, args.device)
             for a in args.models.split(",")]
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.images} image(s) per case, {args.rounds} round(s)")
    for c in cases:
        print(f"  {c.arch} {c.size[0]}x{c.size[1]}: target layer {c.layer_name} ({c.layout.describe()}), {c.format}")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with flush_denormal():
        for c in cases:  # warm-up: one forward/backward per model
            get_explainer("gradcam")(c.model, c.layer, c.x[:1], c.targets[:1], reshape=c.layout.to_nchw)
        for r in range(args.rounds):
            for c in cases:
                for m in methods:
                    opts = FAST.get(m, {}) if args.fast else {}
                    res = c.run(m, opts)
                    results.setdefault((c.arch, m), []).append(res)
                    print(f"  round {r + 1}: {c.arch:<24} {m:<22} {res['images_per_s']:8.3f} images/s "
                          f"{res['peak_mb']:8.0f} MB", file=sys.stderr, flush=True)
    print(f"\n{'model':<24} {'method':<22} {'images/s':>9} {'s/image':>8} {'x gradcam (median, min per round)':>34}"
          f" {'passes':>7} {'peak MB':>8}")
    for c in cases:
        base = [r["images_per_s"] for r in results.get((c.arch, "gradcam"), [])]
        for m in methods:
            rs = results[(c.arch, m)]
            ips = statistics.median(r["images_per_s"] for r in rs)
            per_round = [b / r["images_per_s"] for b, r in zip(base, rs, strict=False)]
            ratio = (f"{statistics.median(per_round):22.1f} {min(per_round):11.1f}" if per_round
                     else f"{'-':>34}")
            print(f"{c.arch:<24} {m:<22} {ips:9.3f} {1 / ips:8.2f} {ratio} {rs[0]['passes']:7d} "
                  f"{max(r['peak_mb'] for r in rs):8.0f}")
    if len(cases) == 2:
        a, b = cases
        print(f"\n{a.arch} / {b.arch} time ratio per method (images/s of {b.arch} over {a.arch}; "
              "median and min per round):")
        for m in methods:
            per_round = [rb["images_per_s"] / ra["images_per_s"]
                         for ra, rb in zip(results[(a.arch, m)], results[(b.arch, m)], strict=False)]
            print(f"  {m:<22} {statistics.median(per_round):6.2f} {min(per_round):6.2f}")


if __name__ == "__main__":
    main()
