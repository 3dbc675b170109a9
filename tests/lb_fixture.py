"""Test helper: fabricate consistent scoring runs (entry.json + scores.csv + overlays).

``make_run(root, name, quality=...)`` writes a run folder whose entry's localisation
aggregates are exactly what ``AGGREGATE`` computes from its scores.csv, so
``leaderboard.add_run(run, lb, aggregate=AGGREGATE)`` accepts it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

CHARS = ["Plaque", "Scale", "Papule"]
RATERS = ["rater1", "rater2", "rater3"]
DISEASES = ["Psoriasis", "Acne", "Vitiligo"]
HASH = "ab" * 32


def _stat(values: list[float], seed: int, n_boot: int) -> dict[str, Any]:
    v = np.array([x for x in values if x is not None and not np.isnan(x)], dtype=float)
    n = int(v.size)
    if n == 0:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else None
    rng = np.random.default_rng(seed)
    boots = v[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": mean, "std": std, "ci_low": float(lo), "ci_high": float(hi), "n": n}


def fake_aggregate(df: pd.DataFrame, seed: int, n_boot: int) -> dict[str, Any]:
    """A stand-in for the harness's aggregate_scores over this fixture's scores.csv."""
    out: dict[str, Any] = {}
    for char, sub in df.groupby("characteristic", sort=True):
        raters = sub[sub["reference"] != "fusion"].groupby("image")[["f1", "sensitivity", "specificity"]].mean()
        fusion = sub[sub["reference"] == "fusion"].set_index("image")
        out[str(char)] = {
            "n_images": int(sub["image"].nunique()),
            "per_rater": {m: _stat(list(raters[m]), seed, n_boot) for m in ("f1", "sensitivity", "specificity")},
            "fusion": {m: _stat(list(fusion[m]), seed, n_boot) for m in ("f1", "sensitivity", "specificity")},
        }
    return out


AGGREGATE = fake_aggregate


def fake_scores(n_images: int, quality: float, seed: int, prefix: str = "img") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        image = f"{prefix}{i:03d}"
        for char in [*CHARS, "union"]:
            for ref in [*RATERS, "fusion"]:
                f1 = float(np.clip(quality + rng.normal(0, 0.1), 0, 1))
                rows.append({
                    "image": image, "characteristic": char, "reference": ref, "f1": f1,
                    "sensitivity": float(np.clip(f1 + 0.1, 0, 1)),
                    "specificity": float(np.clip(0.9 - 0.1 * rng.random(), 0, 1)),
                })
    return pd.DataFrame(rows)


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
    """A schema-valid entry dict and the scores it was aggregated from."""
    scores = fake_scores(n_images, quality, seed)
    loc = AGGREGATE(scores, seed, n_boot)
    hb = human_baseline()
    for char, block in loc.items():
        block["baseline"] = hb["localisation"][char]
        vs = {}
        for m in ("f1", "sensitivity", "specificity"):
            a, b = block["per_rater"][m]["mean"], block["baseline"][m]["mean"]
            vs[m] = {"difference": a - b, "ratio": a / b}
        block["vs_baseline"] = vs
    union = scores[(scores["characteristic"] == "union") & (scores["reference"] != "fusion")]
    per_image = union.groupby("image")[["f1", "sensitivity", "specificity"]].mean()
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
        "per_image_union": {img: {m: float(r[m]) for m in ("f1", "sensitivity", "specificity")}
                            for img, r in per_image.iterrows()},
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
    """Write a run folder ``root/<n>`` (entry.json, scores.csv, overlays/*.png)."""
    entry, scores = make_entry(name, **kw)
    run = root / f"run-{abs(hash(name)) % 10**8}-{len(list(root.glob('run-*'))) if root.exists() else 0}"
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
