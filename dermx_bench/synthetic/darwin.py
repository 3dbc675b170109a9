"""Synthetic DermX-like annotations: simulated dermatologists writing V7 Darwin files.

Each synthetic image has a diagnosis and a few true lesions (polygons, (x, y)
pixels). Each simulated rater sees most lesions, outlines them with their own
jitter, scale and offset, sometimes names a related characteristic, sometimes
misdiagnoses, discards the image or gives two diagnoses: the ways real raters
disagree. Files are written as Darwin JSON 1.0 (``polygon`` / ``complex_polygon``)
or 2.0 (``item.slots``, ``polygon.paths``) with a DermX ``metadata.csv``.

``python -m dermx_bench.synthetic.darwin OUTDIR`` regenerates the built-in sample
that lives in ``annotations/sample``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DIAGNOSES = ["Acne", "Actinic keratosis", "Psoriasis", "Seborrheic dermatitis", "Viral warts", "Vitiligo"]

#: The characteristics a lesion of each diagnosis shows.
LESIONS: dict[str, list[str]] = {
    "Acne": ["Papule", "Pustule", "Open comedo"],
    "Actinic keratosis": ["Scale", "Sun damage"],
    "Psoriasis": ["Plaque", "Scale"],
    "Seborrheic dermatitis": ["Patch", "Scale"],
    "Viral warts": ["Papule", "Dermatoglyph disruption"],
    "Vitiligo": ["Patch", "Macule"],
}
#: Related characteristics a rater may name instead.
CONFUSED = {"Plaque": "Patch", "Patch": "Plaque", "Papule": "Nodule", "Macule": "Patch", "Pustule": "Papule"}
ATTRIBUTES = {"Plaque": ["Red", "Well-circumscribed"], "Scale": ["White", "Fine"], "Patch": ["Depigmented"],
              "Papule": ["Red"], "Macule": ["Hyper-pigmented"], "Sun damage": ["Rough"]}
TAGS = {"Acne": ["Young", "Seborrheic region"], "Actinic keratosis": ["Elderly", "Exposed areas"],
        "Psoriasis": ["Extensor sites", "Symmetrical"], "Seborrheic dermatitis": ["Seborrheic region"],
        "Viral warts": ["Acral distribution"], "Vitiligo": ["Symmetrical", "Periorificial"]}


@dataclass
class Lesion:
    """A true lesion: its characteristic and outline, float array (n, 2) of (x, y)."""

    characteristic: str
    outline: np.ndarray


@dataclass
class SynthImage:
    """A simulated photograph's annotation truth: size (height, width) in pixels, diagnosis, lesions."""

    name: str
    height: int
    width: int
    diagnosis: str
    lesions: list[Lesion] = field(default_factory=list)


@dataclass(frozen=True)
class RaterStyle:
    """How a simulated rater deviates from the truth."""

    detect: float = 0.85
    jitter: float = 0.08
    confuse: float = 0.1
    misdiagnose: float = 0.1
    discard: float = 0.05
    multi: float = 0.03


def _blob(rng: np.random.Generator, cx: float, cy: float, r: float, n: int = 14) -> np.ndarray:
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.7, 1.2, n)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def make_images(n_images: int, rng: np.random.Generator, size: tuple[int, int] = (120, 160)) -> list[SynthImage]:
    """``n_images`` images (cycling through the diagnoses) of about ``size`` = (height, width)."""
    images = []
    height, width = size
    for i in range(n_images):
        dx = DIAGNOSES[i % len(DIAGNOSES)]
        w = int(width * rng.uniform(0.9, 1.1))  # the width is drawn first (kept: same images per seed)
        h = int(height * rng.uniform(0.9, 1.1))
        img = SynthImage(f"synth{i:04d}", height=h, width=w, diagnosis=dx)
        for _ in range(int(rng.integers(2, 5))):
            r = min(w, h) * rng.uniform(0.08, 0.2)
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            img.lesions.append(Lesion(str(rng.choice(LESIONS[dx])), _blob(rng, cx, cy, r)))
        images.append(img)
    return images


def rate(img: SynthImage, rng: np.random.Generator, style: RaterStyle) -> dict[str, Any]:
    """One simulated evaluation: diagnosis tags, non-localisable tags and outlines."""
    tags: list[str] = []
    if rng.random() < style.discard:
        tags.append(str(rng.choice(["Low-quality", "Other-disease"])))
    dx = img.diagnosis if rng.random() >= style.misdiagnose else str(rng.choice(DIAGNOSES))
    tags.append(dx)
    if rng.random() < style.multi:
        tags.append(str(rng.choice([d for d in DIAGNOSES if d != dx])))
    tags += [t for t in TAGS[img.diagnosis] if rng.random() < 0.6]
    outlines: list[tuple[str, list[np.ndarray]]] = []
    for lesion in img.lesions:
        if rng.random() >= style.detect:
            continue
        name = lesion.characteristic
        if name in CONFUSED and rng.random() < style.confuse:
            name = CONFUSED[name]
        centre = lesion.outline.mean(axis=0)
        scale = rng.uniform(1 - 2 * style.jitter, 1 + 2 * style.jitter)
        shift = rng.normal(0, style.jitter * 10, 2)
        ring = (lesion.outline - centre) * scale + centre + shift
        ring = ring + rng.normal(0, style.jitter * 5, ring.shape)
        outlines.append((name, [ring]))
    return {"tags": tags, "outlines": outlines}


def _pts(ring: np.ndarray) -> list[dict[str, float]]:
    return [{"x": round(float(x), 2), "y": round(float(y), 2)} for x, y in ring]


def darwin_v1(img: SynthImage, rater: str, ev: dict[str, Any]) -> dict[str, Any]:
    anns: list[dict[str, Any]] = [{"name": t, "tag": {}} for t in ev["tags"]]
    for name, rings in ev["outlines"]:
        allpts = np.concatenate(rings)
        bbox = {"x": float(allpts[:, 0].min()), "y": float(allpts[:, 1].min()),
                "w": float(np.ptp(allpts[:, 0])), "h": float(np.ptp(allpts[:, 1]))}
        a: dict[str, Any] = {"name": name, "bounding_box": {k: round(v, 2) for k, v in bbox.items()}}
        if len(rings) == 1:
            a["polygon"] = {"path": _pts(rings[0])}
        else:
            a["complex_polygon"] = {"path": [_pts(r) for r in rings]}
        if name in ATTRIBUTES:
            a["attributes"] = ATTRIBUTES[name]
        anns.append(a)
    return {
        "dataset": "dermx-bench synthetic",
        "image": {"width": img.width, "height": img.height, "original_filename": f"{img.name}.jpeg",
                  "filename": f"{rater}_{img.name}.jpeg"},
        "annotations": anns,
    }


def darwin_v2(img: SynthImage, rater: str, ev: dict[str, Any]) -> dict[str, Any]:
    who = [{"full_name": rater, "email": f"{rater}@example.org"}]
    anns: list[dict[str, Any]] = [
        {"id": f"t{i}", "name": t, "tag": {}, "slot_names": ["0"], "annotators": who}
        for i, t in enumerate(ev["tags"])
    ]
    for i, (name, rings) in enumerate(ev["outlines"]):
        a: dict[str, Any] = {"id": f"p{i}", "name": name, "polygon": {"paths": [_pts(r) for r in rings]},
                             "slot_names": ["0"], "annotators": who}
        if name in ATTRIBUTES:
            a["properties"] = [{"name": "descriptor", "value": v} for v in ATTRIBUTES[name]]
        anns.append(a)
    return {
        "version": "2.0",
        "schema_ref": "https://darwin-public.s3.eu-west-1.amazonaws.com/darwin_json/2.0/schema.json",
        "item": {"name": f"{img.name}.jpeg", "path": "/",
                 "slots": [{"type": "image", "slot_name": "0", "width": img.width, "height": img.height}]},
        "annotations": anns,
    }


def write_dataset(
    out_dir: str | Path,
    images: list[SynthImage],
    raters: list[str],
    rng: np.random.Generator,
    style: RaterStyle = RaterStyle(),
    v2_raters: tuple[str, ...] = (),
) -> Path:
    """Write ``annotations/<rater>_<image>.json`` (2.0 for ``v2_raters``) and ``metadata.csv``."""
    out = Path(out_dir)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for img in images:
        for rater in raters:
            ev = rate(img, rng, style)
            doc = darwin_v2(img, rater, ev) if rater in v2_raters else darwin_v1(img, rater, ev)
            (out / "annotations" / f"{rater}_{img.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    with open(out / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\n")
        w.writerow(["original_filename", "dataset", "diagnosis", "current_filename", "skin_tone", "age"])
        for img in images:
            tone, age = synthetic_demographics(img.name)
            w.writerow([f"{img.name}.jpg", "synthetic", img.diagnosis, f"{img.name}.jpeg", tone, age])
    return out


SKIN_TONES = ("light", "light", "medium", "medium", "dark")
"""Skin tones of the synthetic metadata (drawn by name: about 2/5 light, 2/5 medium, 1/5 dark)."""
AGES = ("young", "adult", "adult", "elderly")
"""Age groups of the synthetic metadata (drawn by name)."""


def synthetic_demographics(name: str) -> tuple[str, str]:
    """(skin tone, age group) of a synthetic image, from the sha256 of its name (no random
    draw: the images and annotations of a seed stay the same)."""
    h = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return SKIN_TONES[h % len(SKIN_TONES)], AGES[(h // len(SKIN_TONES)) % len(AGES)]


def write_sample(out_dir: str | Path, seed: int = 0) -> Path:
    """The built-in sample: 6 images, 3 raters (one exporting Darwin 2.0), plus one
    hand-shaped evaluation with a hole, overlapping rings and vertices outside the image."""
    rng = np.random.default_rng(seed)
    images = make_images(6, rng)
    out = write_dataset(out_dir, images, ["rater1", "rater2", "rater3"], rng, v2_raters=("rater3",))
    img = images[0]
    w, h = img.width, img.height
    outer = np.array([[-5.0, -5.0], [w * 0.6, -5.0], [w * 0.6, h * 0.6], [-5.0, h * 0.6]])
    hole = np.array([[w * 0.1, h * 0.1], [w * 0.3, h * 0.1], [w * 0.3, h * 0.3], [w * 0.1, h * 0.3]])
    overlap = outer * 0.5 + [w * 0.4, h * 0.4]
    ev = {"tags": [img.diagnosis, "Young"], "outlines": [("Plaque", [outer, hole, overlap]), ("Scale", [hole])]}
    doc = darwin_v1(img, "rater4", ev)
    (out / "annotations" / f"rater4_{img.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return out


if __name__ == "__main__":
    print(write_sample(sys.argv[1] if len(sys.argv) > 1 else "annotations/sample"))
