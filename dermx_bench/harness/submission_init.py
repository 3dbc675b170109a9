"""``init-submission``: a valid submission folder for a timm architecture, checked at once.

:func:`init_submission` writes ``submission.toml`` with the architecture's own input size,
mean and std (timm's pretrained configuration of that name: nothing is downloaded) and the
weights: the researcher's file, copied into the folder, or, without one, the
architecture's random initialisation (``pretrained=False``; a floor to try the pipeline
with). The folder is then loaded exactly as ``score`` loads it
(:func:`~dermx_bench.harness.submission.load_submission`), so weights that do not fit the
architecture or the classes are refused right away, with the fix named
(:mod:`~dermx_bench.harness.weights_match`). A refused folder is left as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import DermxError, InputError
from dermx_bench.core.files import write_atomic
from dermx_bench.harness.images import RESIZE_MODES
from dermx_bench.harness.model_build import check_timm_name
from dermx_bench.harness.submission_config import CONFIG_NAMES, WEIGHT_SUFFIXES
from dermx_bench.harness.weights import load_state_dict

RANDOM_WEIGHTS = "model.safetensors"
"""File name of the random initialisation written when no weights are given."""
DEFAULT_RESIZE = "shorter-side+center-crop"
"""timm's evaluation transform: the shorter side scaled to the input, the centre cut out."""


@dataclass(frozen=True)
class DataConfig:
    """What a timm architecture expects: ``input_size`` (height, width), RGB ``mean``/``std``."""

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def timm_data_config(model: str) -> DataConfig:
    """The input size, mean and std of timm's pretrained configuration of ``model`` (offline).

    Read from ``timm.get_pretrained_cfg`` (a table in the timm package); an architecture
    without one is built on the ``meta`` device and ``timm.data.resolve_data_config`` asked.
    """
    import timm

    cfg: Any = timm.get_pretrained_cfg(model, allow_unregistered=True)
    if cfg is None or getattr(cfg, "input_size", None) is None:
        import torch
        from timm.data import resolve_data_config

        with torch.device("meta"):
            module = timm.create_model(model, pretrained=False)
        cfg_dict = resolve_data_config({}, model=module)
        size, mean, std = cfg_dict["input_size"], cfg_dict["mean"], cfg_dict["std"]
    else:
        size, mean, std = cfg.input_size, cfg.mean, cfg.std
    return DataConfig((int(size[-2]), int(size[-1])), (float(mean[0]), float(mean[1]), float(mean[2])),
                      (float(std[0]), float(std[1]), float(std[2])))


@dataclass(frozen=True)
class InitResult:
    """A written submission: its folder, configuration file, weights and what was chosen."""

    folder: Path
    config_file: Path
    weights: Path
    random_weights: bool
    model: str
    classes: list[str]
    data: DataConfig
    resize: str
    target_layer: str | None
    layer_problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "config": str(self.config_file), "weights": str(self.weights),
                "random_weights": self.random_weights, "model": self.model, "classes": self.classes,
                "input_size": list(self.data.input_size), "mean": list(self.data.mean), "std": list(self.data.std),
                "resize": self.resize, "target_layer": self.target_layer, "layer_problem": self.layer_problem}


def toml_value(v: Any) -> str:
    """A string, number or (nested) list as a TOML value."""
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else repr(v)


def render_config(name: str, authors: Sequence[str], model: str, weights: str, classes: Sequence[str],
                  data: DataConfig, resize: str, random_weights: bool) -> str:
    """``submission.toml`` with a comment on each field saying where its value came from."""
    src = f"timm's pretrained configuration of {model}"
    weights_note = ("random initialisation (pretrained=False): replace with your trained weights"
                    if random_weights else "your weights, copied here")
    lines = [
        "# A dermx-bench submission, written by 'dermx-bench init-submission'. Check every field, then:",
        "#   dermx-bench score THIS_FOLDER --store dermx.db --images photos/ --out runs/my-model",
        f"name = {toml_value(name)}",
        f"authors = {toml_value(list(authors))}",
        f"model = {toml_value(model)}                # a timm architecture, built with pretrained=False",
        f"weights = {toml_value(weights)}            # {weights_note}",
        "# the model's outputs in output order: DermX diagnoses (any spelling the ontology knows) or \"ignore\"",
        f"classes = {toml_value(list(classes))}",
        f"input_size = {toml_value(list(data.input_size))}   # [height, width], from {src}",
        f"mean = {toml_value(list(data.mean))}   # from {src}",
        f"std = {toml_value(list(data.std))}    # from {src}",
        f"resize = {toml_value(resize)}   # as you trained: {' or '.join(repr(m) for m in RESIZE_MODES)}",
        "# target_layer = \"...\"   # optional; default: the last stage timm's feature_info reports",
    ]
    return "\n".join(lines) + "\n"


def _check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "", "exists and is not a folder")
    for n in CONFIG_NAMES:
        if (folder / n).exists():
            raise InputError(folder / n, "", "already exists; choose a new folder or remove it first")


def init_submission(
    folder: str | Path, model: str, *, weights: str | Path | None = None, classes: Sequence[str] | None = None,
    name: str | None = None, authors: Sequence[str] = ("A. Researcher",), input_size: tuple[int, int] | None = None,
    resize: str = DEFAULT_RESIZE, seed: int = 0,
) -> InitResult:
    """Write ``folder/submission.toml`` (and the weights) for timm architecture ``model``, then load it.

    ``classes``: the model's outputs in order (default: the ontology's diagnoses);
    ``input_size`` (height, width) overrides timm's; ``weights``: a .safetensors/.pt/.pth
    state dict copied into ``folder`` (default: the random initialisation, seeded by
    ``seed``). Raises SubmissionError (unknown architecture with close names, weights
    that do not fit) or InputError (a folder that already holds a submission); on any
    error the folder is left as it was.
    """
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.submission import load_submission

    out = Path(folder)
    config_file = out / CONFIG_NAMES[0]
    _check_folder(out)
    check_timm_name(model, config_file)
    if resize not in RESIZE_MODES:
        raise InputError("--resize", resize, f"expected one of {', '.join(RESIZE_MODES)}")
    onto = load_ontology()
    chosen = list(classes) if classes else list(onto.diagnoses)
    data = timm_data_config(model)
    if input_size is not None:
        data = DataConfig(tuple(input_size), data.mean, data.std)  # type: ignore[arg-type]
    src = Path(weights) if weights is not None else None
    if src is not None:
        if src.suffix not in WEIGHT_SUFFIXES:
            raise InputError(src, "", f"expected a {', '.join(WEIGHT_SUFFIXES)} state dict")
        if not src.is_file():
            raise InputError(src, "", "no such weights file")
        load_state_dict(src, config_file)  # unsafe or unreadable files refused before anything is written
        dest = out / src.name
        if dest.exists() and not dest.samefile(src):
            raise InputError(dest, "", "already exists; choose a new folder or remove it first")
    else:
        dest = out / RANDOM_WEIGHTS
        if dest.exists():
            raise InputError(dest, "", "already exists; choose a new folder or remove it first")
    created = not out.exists()
    wrote: list[Path] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        if src is None:
            _write_random(dest, model, len(chosen), seed)
            wrote.append(dest)
        elif not dest.exists():
            shutil.copyfile(src, dest)
            wrote.append(dest)
        text = render_config(name or f"{model} on DermX", authors, model, dest.name, chosen, data, resize,
                             random_weights=src is None)
        write_atomic(config_file, text)
        wrote.append(config_file)
        loaded = load_submission(out, ontology=onto, need_target_layer=False)
    except (DermxError, OSError):
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for p in wrote:
                p.unlink(missing_ok=True)
        raise
    return InitResult(out, config_file, dest, src is None, model, loaded.classes, data, resize,
                      loaded.target_layer, loaded.layer_problem)


def _write_random(path: Path, model: str, n_classes: int, seed: int) -> None:
    """The architecture's random initialisation (seeded) as ``path`` (safetensors)."""
    import timm
    import torch
    from safetensors.torch import save_file

    with torch.random.fork_rng(devices=[]):  # timm initialises with torch's global generator: restored after
        torch.manual_seed(seed)
        module = timm.create_model(model, pretrained=False, num_classes=n_classes)
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(path))
