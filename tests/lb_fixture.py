"""Test helper: fabricate consistent scoring runs (entry.json + scores.csv + predictions.csv + overlays).

``make_run(root, name, quality=...)`` writes a run folder in the harness's format: a
``scores.csv`` with the harness's columns (``rater:<name>`` and ``fusion:fuzzy``
references, some undefined values), a ``predictions.csv`` and an ``entry.json`` whose
figures are computed here, independently of dermx_bench's statistics (plain Python and
``statistics`` for means and standard deviations, a bootstrap written out below,
scikit-learn for the diagnosis), following the rules of the figures version asked for (2
by default, entry schema 4: compared with the like-for-like human reference of
``human_baseline.like_for_like``; 1, entry schema 3: compared with the pairwise table of
``human_baseline.localisation``), and whose ``run_files`` and ``digest`` follow the
documented rule (sha256 of the files; sha256 of ``dermx-bench entry digest 1\n`` + the
entry's sorted compact JSON without ``digest``): so ``leaderboard.add_run`` accepts it
unless a test edits something, and a change in the toolkit's figures shows up as a
refused fixture.
"""

from __future__ import annotations

import hashlib
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


def _image_stat(mean: float) -> dict[str, Any]:
    return {"mean": mean, "std": 0.2, "ci_low": max(0.0, mean - 0.04), "ci_high": min(1.0, mean + 0.04), "n": 12}


def _figures(f1: float, sens: float, spec: float) -> dict[str, Any]:
    """A characteristic's figures as a model's (n_images, per_rater, fusion)."""
    stats = {"f1": _image_stat(f1), "sensitivity": _image_stat(sens), "specificity": _image_stat(spec)}
    return {"n_images": 12, "per_rater": stats, "fusion": stats}


FLOOR_MEANS = {"ones": (0.3, 1.0, 0.0), "gaussian": (0.25, 0.4, 0.8), "zeros": (0.0, 0.0, 1.0)}


def human_baseline(figures_version: int = 2) -> dict[str, Any]:
    loc = {c: {"f1": _baseline_stat(0.5), "sensitivity": _baseline_stat(0.55),
               "specificity": _baseline_stat(0.9)} for c in [*CHARS, "union"]}
    out: dict[str, Any] = {"localisation": loc, "diagnosis": {"accuracy": 0.8, "macro_f1": 0.75}}
    if figures_version >= 2:
        out["like_for_like"] = {c: _figures(0.6, 0.7, 0.9) for c in [*CHARS, "union"]}
        out["floors"] = {name: {"description": f"a trivial map ({name})",
                                "localisation": {c: _figures(*means) for c in [*CHARS, "union"]}}
                         for name, means in FLOOR_MEANS.items()}
    return out


def reference_of(hb: dict[str, Any], figures_version: int) -> dict[str, Any]:
    """The figures ``vs_baseline`` compares with: like-for-like per rater (version 2), pairwise (1)."""
    if figures_version >= 2:
        return {c: block["per_rater"] for c, block in hb["like_for_like"].items()}
    return dict(hb["localisation"])


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


def fake_predictions(n_images: int, seed: int, prefix: str = "img") -> str:
    """``predictions.csv`` text in the harness's format (one row per image; image 0's map is all zero)."""
    rng = np.random.default_rng(seed + 1000)
    lines = ["image,gold,target,predicted,all_zero,map_sum"]
    for i in range(n_images):
        gold = DISEASES[i % len(DISEASES)]
        predicted = gold if rng.random() < 0.7 else DISEASES[(i + 1) % len(DISEASES)]
        zero = i == 0
        lines.append(f"{prefix}{i:03d},{gold},{gold},{predicted},{'true' if zero else 'false'},"
                     f"{0.0 if zero else 100.0}")
    return "\n".join(lines) + "\n"


def diagnosis(predictions: str) -> dict[str, Any]:
    """The entry's ``diagnosis`` from predictions.csv text, with scikit-learn (labels in DermX order)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    rows = [line.split(",") for line in predictions.splitlines()[1:]]
    gold, pred = [r[1] for r in rows], [r[3] for r in rows]
    labels = [d for d in ("Acne", "Psoriasis", "Vitiligo")]  # the ontology's order of DISEASES
    cm = confusion_matrix(gold, pred, labels=labels)
    f1 = f1_score(gold, pred, labels=labels, average=None, zero_division=np.nan)
    sens = recall_score(gold, pred, labels=labels, average=None, zero_division=np.nan)
    per_class = {}
    for k, lab in enumerate(labels):
        tn_fp = cm.sum() - cm[k].sum()
        spec = (tn_fp - (cm[:, k].sum() - cm[k, k])) / tn_fp if tn_fp else None
        per_class[lab] = {"f1": None if np.isnan(f1[k]) else float(f1[k]),
                          "sensitivity": None if np.isnan(sens[k]) else float(sens[k]),
                          "specificity": None if spec is None else float(spec), "n": int(cm[k].sum())}
    return {"accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, labels=sorted(set(gold) | set(pred)), average="macro")),
            "per_class": per_class, "confusion": {"labels": labels, "matrix": cm.tolist()}}


def digest(entry: dict[str, Any]) -> str:
    """The documented digest rule, written out here (not dermx_bench's implementation)."""
    body = json.dumps({k: v for k, v in entry.items() if k != "digest"}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(b"dermx-bench entry digest 1\n" + body.encode("utf-8")).hexdigest()


def build_run(
    name: str,
    *,
    quality: float = 0.5,
    n_images: int = 12,
    seed: int = 0,
    content_hash: str = HASH,
    options: dict[str, str] | None = None,
    n_boot: int = 50,
    n_reference_images: int | None = None,
    figures_version: int = 2,
    weights_sha256: str = "0" * 64,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, str]]:
    """A schema-valid entry dict, the scores its figures were computed from, and the text of
    the run files it names (``scores.csv``, ``predictions.csv``). Figures version 2: schema 4,
    compared with the like-for-like reference; 1: schema 3, with the pairwise table."""
    buf = io.StringIO()
    fake_scores(n_images, quality, seed).to_csv(buf, index=False)
    scores_csv = buf.getvalue()
    scores = pd.read_csv(io.StringIO(scores_csv))  # exactly what add_run will read
    preds_csv = fake_predictions(n_images, seed)
    hb = human_baseline(figures_version)
    head: dict[str, Any] = {"schema_version": 4, "figures_version": figures_version, "compared_with": "like-for-like"}
    if figures_version == 1:
        head = {"schema_version": 3, "figures_version": 1}
    entry = {
        **head,
        "name": name,
        "authors": ["A. Author", "B. Author"],
        "description": f"test entry {name}",
        "submission": {
            "model": "resnet18", "entry_point": None, "classes": DISEASES,
            "input_size": [64, 64], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
            "resize": "stretch", "target_layer": "layer4",
        },
        "weights_sha256": weights_sha256,
        "store": {"content_hash": content_hash,
                  "baseline_options": options if options is not None else {"multi_diagnosis": "drop", "fusion": "fuzzy"}},
        "method": "gradcam",
        "target": "gold",
        "versions": {"dermx_bench": "0.1.0", "torch": "2.5", "timm": "1.0", "grad_cam": "1.5.7",
                     "python": "3.11"},
        "date": "2026-11-21T23:00:00+00:00",
        "bootstrap": {"n": n_boot, "seed": seed},
        "n_images": n_images,
        "n_reference_images": n_images if n_reference_images is None else n_reference_images,
        "n_all_zero_maps": 1,
        "localisation": beside_baseline(localisation(scores, seed, n_boot), reference_of(hb, figures_version)),
        "per_image_union": per_image_union(scores),
        "diagnosis": diagnosis(preds_csv),
        "human_baseline": hb,
        "run_files": {"scores_sha256": hashlib.sha256(scores_csv.encode()).hexdigest(),
                      "predictions_sha256": hashlib.sha256(preds_csv.encode()).hexdigest()},
    }
    entry["digest"] = digest(entry)
    return entry, scores, {"scores.csv": scores_csv, "predictions.csv": preds_csv}


def make_entry(name: str, **kw: Any) -> tuple[dict[str, Any], pd.DataFrame]:
    """A schema-valid entry dict and the scores its figures were computed from (see :func:`build_run`)."""
    entry, scores, _ = build_run(name, **kw)
    return entry, scores


def write_png(path: Path, color: tuple[int, int, int] = (200, 80, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path, format="PNG")


def make_run(root: Path, name: str, *, overlays: int = 1, **kw: Any) -> Path:
    """Write a run folder ``root/run-<k>`` (entry.json, scores.csv, predictions.csv, overlays/*.png)."""
    entry, _, files = build_run(name, **kw)
    run = root / f"run-{len(list(root.glob('run-*'))) if root.exists() else 0}"
    run.mkdir(parents=True)
    for file, text in files.items():
        (run / file).write_text(text, encoding="utf-8")
    (run / "entry.json").write_text(json.dumps(entry, indent=2), encoding="utf-8")
    for i in range(overlays):
        write_png(run / "overlays" / f"overlay_{i}.png")
    return run


def edit_entry(run: Path, fn: Any, *, redigest: bool = False) -> None:
    """Apply ``fn(entry_dict)`` to ``run/entry.json`` in place: a hand edit, or with ``redigest``
    a change the digest covers (as if the run had written it so)."""
    p = run / "entry.json"
    data = json.loads(p.read_text(encoding="utf-8"))
    fn(data)
    if redigest:
        data["digest"] = digest(data)
    p.write_text(json.dumps(data, indent=2), encoding="utf-8")
