"""Test helper: fabricate consistent scoring runs (entry.json + scores.csv + overlays).

``make_run(root, name, quality=...)`` writes a run folder in the harness's format: a
``scores.csv`` with the harness's columns (``rater:<name>`` and ``fusion:fuzzy``
references, some undefined values) and an ``entry.json`` whose figures are computed
here, independently of dermx_bench's statistics (plain Python and ``statistics`` for
means and standard deviations, a bootstrap written out below), following the rules of
figures version 1: so ``leaderboard.add_run`` accepts it unless a test edits something,
and a change in the toolkit's figures shows up as a refused fixture.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

CHARS = ["Plaque", "Scale", "Papule"]
RATERS = ["rater1", "rater2", "rater3"]
DISEASES = ["Psoriasis", "Acne", "Vitiligo"]
METRICS = ("f1", "sensitivity", "specificity")
COLUMNS = ["image", "characteristic", "reference", *METRICS, "map_sum", "reference_sum", "all_zero"]
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
            for ref in [*(f"rater:{r}" for r in drew), "fusion:fuzzy"]:
                f1 = 0.0 if zero else float(np.clip(quality + rng.normal(0, 0.1), 0, 1))
                spec = None if rng.random() < 0.05 else float(np.clip(0.9 - 0.1 * rng.random(), 0, 1))
                rows.append({
                    "image": image, "characteristic": char, "reference": ref, "f1": f1,
                    "sensitivity": float(np.clip(f1 + 0.1, 0, 1)) if not zero else 0.0,
                    "specificity": spec, "map_sum": 0.0 if zero else 100.0 * f1,
                    "reference_sum": 120.0, "all_zero": zero,
                })
    return pd.DataFrame(rows, columns=COLUMNS)


# -- the figures, computed without dermx_bench ----------------------------------------------


def _defined(values: list[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def _stat(values: list[Any], seed: int, n_boot: int) -> dict[str, Any]:
    """Mean over the values, sample std, 2.5/97.5 percentiles of ``n_boot`` bootstrap means."""
    v = _defined(values)
    if not v:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    arr = np.array(v)
    gen = np.random.default_rng(seed)
    means = [float(arr[gen.integers(0, len(v), size=len(v))].mean()) for _ in range(n_boot)]
    lo, hi = (float(x) for x in np.percentile(means, [2.5, 97.5])) if n_boot else (None, None)
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else None,
            "ci_low": lo, "ci_high": hi, "n": len(v)}


def _per_image(scores: pd.DataFrame) -> tuple[dict, dict, dict]:
    """Per (characteristic, image): the rater rows' values per metric, the fusion row, all images."""
    raters: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    fusion: dict[tuple[str, str], dict[str, Any]] = {}
    images: dict[str, set[str]] = defaultdict(set)
    records: list[dict[str, Any]] = scores.to_dict(orient="records")  # type: ignore[assignment]
    for rec in records:
        key = (str(rec["characteristic"]), str(rec["image"]))
        images[key[0]].add(key[1])
        if str(rec["reference"]).startswith("rater:"):
            for m in METRICS:
                raters[key][m].append(rec[m])
        else:
            fusion[key] = rec
    return raters, fusion, images


def _image_mean(values: list[Any]) -> float | None:
    v = _defined(values)
    return statistics.fmean(v) if v else None


def localisation(scores: pd.DataFrame, seed: int, n_boot: int) -> dict[str, Any]:
    """Per characteristic: images, and per metric the mean over images of the raters' mean."""
    raters, fusion, images = _per_image(scores)
    out = {}
    for ch in sorted(images):
        imgs = sorted(images[ch])
        out[ch] = {
            "n_images": len(imgs),
            "per_rater": {m: _stat([_image_mean(raters[(ch, i)][m]) for i in imgs if (ch, i) in raters], seed, n_boot)
                          for m in METRICS},
            "fusion": {m: _stat([fusion[(ch, i)][m] for i in imgs if (ch, i) in fusion], seed, n_boot)
                       for m in METRICS},
        }
    return out


def per_image_union(scores: pd.DataFrame) -> dict[str, Any]:
    raters, _, images = _per_image(scores)
    return {i: {m: _image_mean(raters[("union", i)][m]) for m in METRICS}
            for i in sorted(images["union"]) if ("union", i) in raters}


def _baseline_stat(mean: float) -> dict[str, Any]:
    return {"mean": mean, "std": 0.2, "ci_low": mean - 0.05, "ci_high": mean + 0.05, "n": 40}


def human_baseline() -> dict[str, Any]:
    loc = {c: {"f1": _baseline_stat(0.5), "sensitivity": _baseline_stat(0.55),
               "specificity": _baseline_stat(0.9)} for c in [*CHARS, "union"]}
    return {"localisation": loc, "diagnosis": {"accuracy": 0.8, "macro_f1": 0.75}}


def beside_baseline(loc: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Add each characteristic's baseline and ``vs_baseline`` (difference and ratio of means)."""
    out = {}
    for ch, block in loc.items():
        vs = {}
        for m in METRICS:
            a, b = block["per_rater"][m]["mean"], base[ch][m]["mean"]
            vs[m] = {"difference": None if a is None else a - b, "ratio": None if a is None else a / b}
        out[ch] = {**block, "baseline": base[ch], "vs_baseline": vs}
    return out


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
    """A schema-valid entry dict and the scores its figures were computed from."""
    buf = io.StringIO()
    fake_scores(n_images, quality, seed).to_csv(buf, index=False)
    scores = pd.read_csv(io.StringIO(buf.getvalue()))  # exactly what add_run will read
    hb = human_baseline()
    entry = {
        "schema_version": 2,
        "figures_version": 1,
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
        "localisation": beside_baseline(localisation(scores, seed, n_boot), hb["localisation"]),
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
