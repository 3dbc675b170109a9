"""Survey: does every timm family load and explain without code? One small variant per timm module.

For each timm model module (``timm.list_modules()``: resnet, vision_transformer,
swin_transformer, ...) the smallest of its smallest-looking variants (parameters counted
on the meta device; families whose smallest has over 150 M are skipped) is built with
random weights (``pretrained=False``; weight matrices that timm initialises to zero, such
as Hiera's head, get small random values so that the logits depend on the image), saved
as a submission at its default input size
(or ``--size``), loaded with ``load_submission`` (the default target layer and its
layout) and explained on one random image with Grad-CAM and, when CAMs are refused,
with Integrated Gradients (8 steps). Prints one line per family:

    OK        family  arch  target layer  layout  seconds
    IG-ONLY   family  arch  why CAMs are refused
    REFUSED   family  arch  why

Not part of CI (it builds ~100 architectures; about 10-20 min on 2 CPU cores).

Usage:
    python bench/timm_families.py [--only resnet,vision_transformer] [--size 224] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SMALL = ("test_", "atto", "femto", "pico", "nano", "xxs", "tiny", "xs", "mini", "small", "_s_", "b0", "_t_",
         "lite", "050", "075", "100", "18", "002", "_s", "_t", "base")
DIAGNOSES = ["Acne", "Actinic keratosis", "Psoriasis", "Seborrheic dermatitis", "Viral warts", "Vitiligo"]


MAX_PARAMS = 150e6


def smallest_name(names: list[str], n_candidates: int = 6) -> tuple[str, float]:
    """(variant, parameters) of the smallest of the ``n_candidates`` variants whose names look
    smallest (first keyword of SMALL they hold, then shortest); parameters counted on torch's
    meta device (nothing allocated)."""
    import timm
    import torch

    def key(n: str) -> tuple[int, int, str]:
        rank = next((i for i, k in enumerate(SMALL) if k in n), len(SMALL))
        big = 1 if re.search(r"(384|448|512|large|huge|giant|_l_|_xl|_h_|_g_)", n) else 0
        return (rank + 100 * big, len(n), n)

    counted = []
    for n in sorted(names, key=key)[:n_candidates]:
        try:
            with torch.device("meta"):
                m = timm.create_model(n, pretrained=False, num_classes=len(DIAGNOSES))
            counted.append((float(sum(p.numel() for p in m.parameters())), n))
        except Exception:  # noqa: BLE001 - a variant that cannot be built on meta is skipped here
            continue
    if not counted:
        return sorted(names, key=key)[0], float("nan")
    params, name = min(counted)
    return name, params


def survey(family: str, arch: str, size: int | None) -> dict[str, Any]:
    import timm
    import torch

    from dermx_bench.core.errors import SubmissionError
    from dermx_bench.harness.explainers import get_explainer
    from dermx_bench.harness.submission import load_submission

    t0 = time.perf_counter()
    row: dict[str, Any] = {"family": family, "arch": arch}
    torch.manual_seed(0)
    try:
        model: Any = timm.create_model(arch, pretrained=False, num_classes=len(DIAGNOSES))
    except Exception as exc:  # noqa: BLE001 - a survey reports every failure
        return {**row, "status": "BUILD-FAIL", "why": f"{type(exc).__name__}: {exc}"[:200]}
    for p in model.parameters():  # zero-initialised heads (Hiera, ...) would make every gradient zero
        if p.dim() > 1 and not p.detach().abs().max() > 0:
            torch.nn.init.normal_(p, std=0.02)
    cfg_size = model.pretrained_cfg.get("input_size", (3, 224, 224))[1:]
    hw = (size, size) if size else (int(cfg_size[0]), int(cfg_size[1]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.save(model.state_dict(), folder / "model.pt")  # .pt: some models share tensors
        toml = (f'name = "{arch}"\nauthors = ["survey"]\nmodel = "{arch}"\nweights = "model.pt"\n'
                f"classes = {json.dumps(DIAGNOSES)}\ninput_size = [{hw[0]}, {hw[1]}]\n"
                "mean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\nresize = \"stretch\"\n")
        (folder / "submission.toml").write_text(toml)
        try:
            lm = load_submission(folder, need_target_layer=False)
        except SubmissionError as exc:
            return {**row, "status": "REFUSED", "why": str(exc).split("submission.toml: ", 1)[-1][:300],
                    "seconds": round(time.perf_counter() - t0, 1)}
        x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(0))
        try:
            if lm.target_layer is not None:
                out = get_explainer("gradcam")(lm.module, lm.target_module(), x, [0], reshape=lm.layout.to_nchw
                                               if lm.layout else None)
                status = "OK"
                row.update(layer=lm.target_layer, layout=lm.layout.describe() if lm.layout else "",
                           note="" if out.maps.max() > 0 else "(all-zero Grad-CAM for this random model)")
            else:
                out = get_explainer("integrated-gradients")(lm.module, None, x, [0], options={"steps": 8},
                                                            mean=(0.5,) * 3, std=(0.25,) * 3)
                status = "IG-ONLY" if out.maps.max() > 0 else "IG-ZERO-MAP"
                row["why"] = lm.layer_problem.split("submission.toml: ", 1)[-1][:300]
        except Exception as exc:  # noqa: BLE001 - a survey reports every failure
            return {**row, "status": "EXPLAIN-FAIL", "why": f"{type(exc).__name__}: {exc}"[:300]}
    return {**row, "status": status, "size": list(hw), "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    import timm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated timm modules")
    ap.add_argument("--size", type=int, default=None, help="square input size (default: the model's)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    mods = [m for m in timm.list_modules() if not args.only or m in args.only.split(",")]
    rows = []
    for mod in mods:
        names = timm.list_models(module=mod)
        if not names:
            continue
        arch, params = smallest_name(names)
        try:
            if params > MAX_PARAMS:
                row = {"family": mod, "arch": arch, "status": "SKIPPED",
                       "why": f"smallest variant has {params / 1e6:.0f} M parameters (survey limit "
                              f"{MAX_PARAMS / 1e6:.0f} M)"}
            else:
                row = survey(mod, arch, args.size)
        except Exception as exc:  # noqa: BLE001 - a survey reports every failure
            row = {"family": mod, "arch": arch, "status": "CRASH", "why": f"{type(exc).__name__}: {exc}"[:300]}
        rows.append(row)
        detail = (f"{row.get('layer', '')}  {row.get('layout', '')} {row.get('note', '')}" if row["status"] == "OK"
                  else row.get("why", ""))
        print(f"{row['status']:<12} {mod:<28} {row['arch']:<40} {detail}  {row.get('seconds', '')}", flush=True)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("summary:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
