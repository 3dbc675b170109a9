"""Train a tiny timm classifier on synthetic photographs and save it as a submission.

For tests and the demo only: a few seconds on a CPU give a model that either looks
at the lesions or, trained on photos whose only diagnosis cue is a spurious marker,
at the marker (:func:`dermx_bench.synthetic.images.training_set`). The result is a normal
submission folder (``model.safetensors`` + ``submission.toml``) that
``dermx-bench score`` loads like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.numeric import flush_denormal
from dermx_bench.synthetic.images import DIAGNOSES

DEFAULT_ARCH = "test_resnet"
DEFAULT_LAYERS = {DEFAULT_ARCH: "layer2"}
"""Target layers for the tiny inputs used here; any other architecture gets the harness's default
(e.g. ``test_vit``: the last block's ``norm1``, see dermx_bench.harness.target_layer)."""
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def to_inputs(
    photos: np.ndarray, input_size: tuple[int, int], mean: Sequence[float] = MEAN, std: Sequence[float] = STD
) -> np.ndarray:
    """uint8 (N, h, w, 3) photos as float32 (N, 3, H_in, W_in) model inputs (stretch resize)."""
    from PIL import Image

    from dermx_bench.harness.images import geometry, preprocess

    out = np.zeros((len(photos), 3, *input_size), np.float32)
    for i, p in enumerate(photos):
        g = geometry(p.shape[0], p.shape[1], input_size, "stretch")
        out[i] = preprocess(Image.fromarray(p), g, mean, std)
    return out


def train_classifier(
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int = len(DIAGNOSES),
    arch: str = DEFAULT_ARCH,
    epochs: int = 6,
    batch_size: int = 16,
    lr: float = 1e-2,
    seed: int = 0,
) -> Any:
    """Train ``arch`` (timm, pretrained=False) with AdamW and cross-entropy; returns it in eval mode.

    ``inputs``: float32 (N, 3, H, W) normalised; ``labels``: int (N,) in [0, n_classes).
    Random horizontal flips; deterministic for a given ``seed`` on one machine.
    """
    import timm
    import torch

    with flush_denormal():
        return _train(inputs, labels, n_classes=n_classes, arch=arch, epochs=epochs, batch_size=batch_size,
                      lr=lr, seed=seed, timm=timm, torch=torch)


def _train(inputs: np.ndarray, labels: np.ndarray, *, n_classes: int, arch: str, epochs: int, batch_size: int,
           lr: float, seed: int, timm: Any, torch: Any) -> Any:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, num_classes=n_classes)
    x_all = torch.from_numpy(inputs)
    y_all = torch.from_numpy(np.asarray(labels, np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, (len(x_all) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x_all), generator=gen)
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            x = x_all[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = torch.nn.functional.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def accuracy(model: Any, inputs: np.ndarray, labels: np.ndarray, batch_size: int = 64) -> float:
    """Share of ``inputs`` whose argmax matches ``labels``."""
    import torch

    right = 0
    with torch.no_grad(), flush_denormal():
        for k in range(0, len(inputs), batch_size):
            pred = model(torch.from_numpy(inputs[k : k + batch_size])).argmax(1).numpy()
            right += int((pred == np.asarray(labels[k : k + batch_size])).sum())
    return right / max(1, len(inputs))


def save_submission(
    model: Any,
    folder: str | Path,
    *,
    name: str,
    arch: str = DEFAULT_ARCH,
    classes: Sequence[str] = DIAGNOSES,
    input_size: tuple[int, int],
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    resize: str = "stretch",
    target_layer: str | None = None,
    authors: Sequence[str] = ("dermx-bench",),
    description: str = "",
) -> Path:
    """Write ``model.safetensors`` and ``submission.toml`` into ``folder``; returns the folder."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
    cfg: dict[str, Any] = {
        "name": name, "authors": list(authors), "description": description, "model": arch,
        "weights": "model.safetensors", "classes": list(classes), "input_size": list(input_size),
        "mean": [float(v) for v in mean], "std": [float(v) for v in std], "resize": resize,
    }
    if target_layer is not None:
        cfg["target_layer"] = target_layer
    from dermx_bench.harness.submission_init import toml_value

    (out / "submission.toml").write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in cfg.items()),
                                         encoding="utf-8")
    return out


def train_synthetic_submission(
    folder: str | Path,
    *,
    cue: str = "lesions",
    name: str | None = None,
    n_train: int = 120,
    photo_size: tuple[int, int] = (72, 96),
    input_size: tuple[int, int] = (48, 64),
    epochs: int = 6,
    seed: int = 0,
    arch: str = DEFAULT_ARCH,
    target_layer: str | None = "auto",
) -> tuple[Path, float]:
    """Train on synthetic photos where the diagnosis shows only through ``cue`` and save a submission.

    ``cue="lesions"``: lesion texture follows the diagnosis, markers are random;
    ``cue="marker"``: the marker follows the diagnosis, lesion textures are random.
    ``arch``: any timm classifier by name (``test_resnet``, ``test_vit``, ...);
    ``target_layer="auto"``: :data:`DEFAULT_LAYERS` for ``arch``, else the harness's default.
    Returns (submission folder, accuracy on a fresh synthetic set with the same cue).
    """
    from dermx_bench.synthetic.images import training_set

    if target_layer == "auto":
        target_layer = DEFAULT_LAYERS.get(arch)
    if cue == "lesions":
        lesions, marker = "diagnosis", "random"
    elif cue == "marker":
        lesions, marker = "random", "diagnosis"
    else:
        raise ValueError(f"cue must be 'lesions' or 'marker', got {cue!r}")
    photos, labels, _ = training_set(n_train, photo_size, seed, lesions=lesions, marker=marker)
    x = to_inputs(photos, input_size)
    model = train_classifier(x, labels, arch=arch, epochs=epochs, seed=seed)
    photos_t, labels_t, _ = training_set(max(24, n_train // 4), photo_size, seed + 1, lesions=lesions, marker=marker)
    acc = accuracy(model, to_inputs(photos_t, input_size), labels_t)
    out = save_submission(
        model, folder, name=name or f"synthetic {cue} {arch}", arch=arch, input_size=input_size,
        target_layer=target_layer,
        description=f"{arch} trained {epochs} epochs on {n_train} synthetic photos; diagnosis cue: {cue}",
    )
    return out, acc
