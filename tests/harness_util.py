"""Shared helpers for the harness tests (submission, cams, scoring, run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DIAGNOSES = ["Acne", "Actinic keratosis", "Psoriasis", "Seborrheic dermatitis", "Viral warts", "Vitiligo"]


def toml_value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_toml(path: Path, cfg: dict[str, Any]) -> None:
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in cfg.items()), encoding="utf-8")


def make_submission(
    folder: Path,
    *,
    model: str = "test_resnet",
    classes: list[str] | None = None,
    input_size: tuple[int, int] = (64, 64),
    weights_format: str = "safetensors",
    seed: int = 0,
    config_format: str = "toml",
    module: Any = None,
    **overrides: Any,
) -> Path:
    """A valid submission folder for a tiny timm model (random weights unless ``module``)."""
    import timm
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    classes = list(DIAGNOSES) if classes is None else classes
    if module is None:
        torch.manual_seed(seed)
        module = timm.create_model(model, pretrained=False, num_classes=len(classes))
    sd = {k: v.contiguous() for k, v in module.state_dict().items()}
    if weights_format == "safetensors":
        from safetensors.torch import save_file

        weights = "model.safetensors"
        save_file(sd, str(folder / weights))
    else:
        weights = f"model.{weights_format}"
        torch.save(sd, folder / weights)
    cfg: dict[str, Any] = {
        "name": "tiny test model",
        "authors": ["Tester"],
        "description": "random weights",
        "model": model,
        "weights": weights,
        "classes": classes,
        "input_size": list(input_size),
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "resize": "stretch",
    }
    for k, v in overrides.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    if config_format == "toml":
        write_toml(folder / "submission.toml", cfg)
    else:
        (folder / "submission.json").write_text(json.dumps(cfg), encoding="utf-8")
    return folder


def edit_config(folder: Path, **changes: Any) -> None:
    """Change fields of a TOML submission (a value of None removes the field)."""
    import tomllib

    path = folder / "submission.toml"
    cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    write_toml(path, cfg)


def make_world(root: Path, n_images: int, seed: int = 7, size: tuple[int, int] = (72, 96)) -> dict[str, Path]:
    """A synthetic store (three raters) with its saved baseline and synthetic photographs with markers."""
    import numpy as np

    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.darwin import make_images, write_dataset
    from dermx_bench.synthetic.images import write_store_images

    rng = np.random.default_rng(seed)
    images = make_images(n_images, rng, size=size)
    write_dataset(root / "darwin", images, ["r1", "r2", "r3"], rng)
    store = root / "s.db"
    ingest_sources(store, [root / "darwin" / "annotations"], metadata=root / "darwin" / "metadata.csv")
    with Store.open(store, write=True) as st:
        save_baselines(st, "2026-01-01T00:00:00+00:00")
    write_store_images(store, root / "photos", seed=1, marker=True)
    return {"root": root, "store": store, "photos": root / "photos"}
