"""Test helper: fabricate consistent scoring runs (entry.json + scores.csv + overlays).

``make_run(root, name, quality=...)`` writes a run folder in the harness's format: a
``scores.csv`` with the harness's columns (``rater:<name>`` and ``fusion:fuzzy``
references, some undefined values) and an ``entry.json`` whose localisation and
per-image union figures come from the harness's own :mod:`dermx_bench.stats.aggregate` run on
that file, so ``leaderboard.add_run`` accepts it unless a test edits something.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from dermx_bench.core.names import SCORE_COLUMNS
from dermx_bench.harness.scoring import fusion_reference, rater_reference
from dermx_bench.stats.aggregate import aggregate_scores, per_image_union, with_baseline

CHARS = ["Plaque", "Scale", "Papule"]
RATERS = ["rater1", "rater2", "rater3"]
DISEASES = ["Psoriasis", "Acne", "Vitiligo"]
HASH = "ab" * 32


def fake_scores(n_images: int, quality: float, seed: int, prefix: str = "img") -> pd.DataFrame:
    """A scores table: every image x characteristic (and union) x (raters who drew it + fusion)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        image = f"{prefix}{i:03d}"
        zero = i == 0  # one all-zero map
        drew = [r for r in RATERS if rng.random() < 0.8] or RATERS[:1]
        for char in [*CHARS, "union"]:
            for ref in [*(rater_reference(r) for r in drew), fusion_reference()]:
                f1 = 0.0 if zero else float(np.clip(quality + rng.normal(0, 0.1), 0, 1))
                spec = None if rng.random() < 0.05 else float(np.clip(0.9 - 0.1 * rng.random(), 0, 1))
                rows.append({
                    "image": image, "characteristic": char, "reference": ref, "f1": f1,
                    "sensitivity": float(np.clip(f1 + 0.1, 0, 1)) if not zero else 0.0,
                    "specificity": spec, "map_sum": 0.0 if zero else 100.0 * f1,
                    "reference_sum": 120.0, "all_zero": zero,
                })
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def _baseline_stat(mean: float) -> dict[str, Any]:
    return {"mean": mean, "std": 0.2, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n": 40}


def human_baseline() -> dict[str, Any]:
    loc = {c: {"f1": _baseline_stat(0.5), "sensitivity": _baseline_stat(0.55),
               "specificity": _baseline_stat(0.9)} for c in [*CHARS, "union"]}
    return {"localisation": loc, "diagnosis": {"accuracy": 0.8, "macro_f1": 0.75}}


def make_entry(
    name: str,
    *,
    quality: float = 0.5,
    n_images: int = 12,
    seed: int = 0,
    content_hash: str = HASH,
    options: dict[str, str] | None = None,
    n_boot: int = 50,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """A schema-valid entry dict and the scores it was aggregated from (harness aggregate)."""
    import io

    buf = io.StringIO()
    fake_scores(n_images, quality, seed).to_csv(buf, index=False)
    scores = pd.read_csv(io.StringIO(buf.getvalue()))  # exactly what add_run will read
    hb = human_baseline()
    loc = with_baseline(aggregate_scores(scores, seed, n_boot), hb["localisation"])
    entry = {
        "schema_version": 1,
        "name": name,
        "authors": ["A. Author", "B. Author"],
        "description": f"test entry {name}",
        "submission": {
            "model": "resnet18", "entry_point": None, "classes": DISEASES,
            "input_size": [64, 64], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "resize": "stretch", "target_layer": "layer4",
        },
        "weights_sha256": "0" * 64,
        "store": {"content_hash": content_hash,
                  "baseline_options": options if options is not None else {"multi_diagnosis": "drop", "fusion": "fuzzy"}},
        "method": "gradcam",
        "target": "gold",
        "versions": {"dermx_bench": "0.1.0", "torch": "2.5", "timm": "1.0", "grad_cam": "1.5.7",
                     "python": "3.11"},
        "date": "2026-11-21T23:00:00+00:00",
        "bootstrap": {"n": n_boot, "seed": seed},
        "n_images": n_images,
        "n_all_zero_maps": 1,
        "localisation": loc,
        "per_image_union": per_image_union(scores),
        "diagnosis": {
            "accuracy": 0.7, "macro_f1": 0.65,
            "per_class": {d: {"f1": 0.6, "sensitivity": 0.7, "specificity": 0.8, "n": 4} for d in DISEASES},
            "confusion": {"labels": DISEASES, "matrix": [[3, 1, 0], [1, 2, 1], [0, 0, 4]]},
        },
        "human_baseline": hb,
    }
    return entry, scores


def write_png(path: Path, color: tuple[int, int, int] = (200, 80, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path, format="PNG")


def make_run(root: Path, name: str, *, overlays: int = 1, **kw: Any) -> Path:
    """Write a run folder ``root/run-<k>`` (entry.json, scores.csv, overlays/*.png)."""
    entry, scores = make_entry(name, **kw)
    run = root / f"run-{len(list(root.glob('run-*'))) if root.exists() else 0}"
    run.mkdir(parents=True)
    (run / "entry.json").write_text(json.dumps(entry, indent=2), encoding="utf-8")
    scores.to_csv(run / "scores.csv", index=False)
    for i in range(overlays):
        write_png(run / "overlays" / f"overlay_{i}.png")
    return run


def edit_entry(run: Path, fn: Any) -> None:
    """Apply ``fn(entry_dict)`` to ``run/entry.json`` in place (a hand edit)."""
    p = run / "entry.json"
    data = json.loads(p.read_text(encoding="utf-8"))
    fn(data)
    p.write_text(json.dumps(data, indent=2), encoding="utf-8")
