"""Load and validate a submitted classifier (a folder with ``submission.toml`` or ``.json``).

A submission folder holds one configuration file and one weights file::

    name = "ResNet-50 fine-tuned on DermX"
    authors = ["A. Researcher"]
    description = "..."
    model = "resnet50"                 # a timm architecture, built with pretrained=False
    # entry_point = "my_model:build"   # or: a function in my_model.py (needs --trust-code)
    weights = "model.safetensors"      # or a state-dict .pt/.pth (torch.load weights_only=True)
    classes = ["Acne", "Actinic keratosis", "ignore", ...]   # the model's outputs, in order
    input_size = [300, 400]            # [height, width] of the model input
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    resize = "stretch"                 # or "shorter-side+center-crop"
    target_layer = "layer4"            # optional; default: see dermx_bench.harness.target_layer

Everything is checked before any scoring starts; every problem raises
:class:`~dermx_bench.core.errors.SubmissionError` naming the file and the field. The
work is split by stage: :mod:`~dermx_bench.harness.submission_config` (the fields),
:mod:`~dermx_bench.harness.weights` (safe loading, strict match),
:mod:`~dermx_bench.harness.model_build` (timm or entry point) and
:mod:`~dermx_bench.harness.target_layer` (the layer CAMs explain and its layout: token
and channels-last outputs are reshaped, see :mod:`~dermx_bench.harness.feature_layout`).
The loaded module is in eval mode with every parameter frozen (``requires_grad_(False)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import SubmissionError
from dermx_bench.harness.entry_point import EntryPointError
from dermx_bench.harness.feature_layout import FeatureLayout
from dermx_bench.harness.model_build import build_matching
from dermx_bench.harness.submission_config import (
    IGNORE,
    SubmissionConfig,
    config_error,
    find_config,
    parse_config,
    read_config,
)
from dermx_bench.harness.target_layer import check_outputs, choose_target_layer
from dermx_bench.harness.weights import load_state_dict, sha256_file

if TYPE_CHECKING:
    import torch

    from dermx_bench.darwin.ontology import Ontology


@dataclass
class LoadedModel:
    """A validated submission and its model, ready for explanation maps.

    ``config``: the checked fields; ``target_layer``: the layer CAM methods explain (the
    config's, or the default), None when the model has none usable and only input
    attribution methods were asked for (``layer_problem`` then says why). ``module`` is
    a ``torch.nn.Module`` in eval mode with frozen parameters, on the CPU. ``classes``
    are canonical diagnosis names or ``"ignore"``, one per model output; ``input_size``
    is (height, width) of the model input; ``layout`` says how the target layer's
    output becomes (B, C, h, w) and ``feature_shape`` is that map's (C, h, w) for one
    input.
    """

    folder: Path
    config_file: Path
    config: SubmissionConfig
    weights_sha256: str
    target_layer: str | None
    module: Any = field(repr=False)
    layout: FeatureLayout | None = None
    layer_problem: str = ""

    @property
    def classes(self) -> list[str]:
        return self.config.classes

    @property
    def input_size(self) -> tuple[int, int]:
        return self.config.input_size

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of the target layer's feature map; (0, 0, 0) without a target layer."""
        return (self.layout.channels, *self.layout.grid) if self.layout is not None else (0, 0, 0)

    @property
    def diagnosis_indices(self) -> dict[str, int]:
        """Diagnosis name -> output index (``ignore`` outputs left out)."""
        return {c: i for i, c in enumerate(self.classes) if c != IGNORE}

    def target_module(self) -> torch.nn.Module | None:
        """The module whose output the CAM methods explain (None without a target layer)."""
        return self.module.get_submodule(self.target_layer) if self.target_layer is not None else None

    def submission_fields(self) -> dict[str, Any]:
        """The ``submission`` block of a leaderboard entry (target layer "" when none)."""
        c = self.config
        return {
            "model": c.model,
            "entry_point": c.entry_point,
            "classes": list(c.classes),
            "input_size": [int(c.input_size[0]), int(c.input_size[1])],
            "mean": [float(v) for v in c.mean],
            "std": [float(v) for v in c.std],
            "resize": c.resize,
            "target_layer": self.target_layer or "",
        }


def load_submission(
    folder: str | Path, *, trust_code: bool = False, ontology: Ontology | None = None,
    need_target_layer: bool = True,
) -> LoadedModel:
    """Validate a submission folder and load its model (CPU, eval mode, frozen).

    Checks, in order: the configuration's fields, the architecture (timm name or
    trusted entry point), the weights (safe formats only; sha256 recorded; strict
    names and shapes), a dry run on one random image (number of outputs), and the
    target layer (runs once, its output is a feature map of the image in a known
    layout, gradients reach it). With ``need_target_layer=False`` (methods that
    attribute to the input pixels) a model without a usable default target layer is
    loaded with ``target_layer=None`` and the reason in ``layer_problem``; a configured
    ``target_layer`` is always checked.
    """
    from dermx_bench.darwin.ontology import load_ontology

    onto = ontology if ontology is not None else load_ontology()
    config_file = find_config(folder)
    cfg = parse_config(read_config(config_file), config_file, onto)
    sd = load_state_dict(cfg.weights, config_file)
    digest = sha256_file(cfg.weights)
    module = build_matching(cfg, sd, config_file, trust_code)
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise config_error(config_file, "weights", f"{cfg.weights.name}: {exc}") from None
    module.eval()
    module.requires_grad_(False)
    check_outputs(module, cfg.input_size, len(cfg.classes), config_file)
    loaded = LoadedModel(folder=config_file.parent, config_file=config_file, config=cfg,
                         weights_sha256=digest, target_layer=None, module=module)
    try:
        chosen = choose_target_layer(module, cfg.target_layer, cfg.input_size, config_file)
    except EntryPointError:  # the submission's code failed: not a problem of the layer
        raise
    except SubmissionError as exc:
        if cfg.target_layer is not None:  # a configured layer must be right, whatever the method
            raise
        if need_target_layer:
            raise SubmissionError(f"{exc}. (Methods that explain the input pixels, such as "
                                  "integrated-gradients, need no target layer.)") from None
        loaded.layer_problem = str(exc)
        return loaded
    loaded.target_layer, loaded.layout = chosen.path, chosen.layout
    return loaded


__all__ = ["LoadedModel", "SubmissionConfig", "find_config", "load_submission"]
