"""Every timm family with a classification head scores end to end without code, or is refused clearly.

One small variant per family (random weights, ``pretrained=False``), trained "at" a small
input size (built with ``img_size`` where the architecture takes it, as a user fine-tuning at
that size would), saved as a plain submission, then scored with Grad-CAM on a few synthetic
photographs. The default target layer and how its output is read are checked against
what the architecture is: class-token transformers are explained at the last block's
``norm1`` (their last block's patch tokens get zero gradients), average-pooled ones at
the last block, channels-last ones are permuted. ``bench/timm_families.py`` surveys every
timm module the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from dermx_bench.core.errors import SubmissionError
from dermx_bench.harness.run import ScoreOptions, score_run
from dermx_bench.harness.submission import load_submission
from tests.harness_util import DIAGNOSES, edit_config, make_submission, make_world

# family, smallest timm variant, input size, default target layer, how its output is read
FAMILIES: list[tuple[str, str, tuple[int, int], str, str]] = [
    ("resnet", "test_resnet", (48, 64), "layer4", "nchw"),
    ("efficientnet", "test_efficientnet", (48, 64), "blocks.4", "nchw"),
    ("convnext", "test_convnext", (48, 64), "stages.3", "nchw"),
    ("regnet", "regnetx_002", (64, 64), "s4", "nchw"),
    ("densenet", "densenet121", (64, 64), "features.norm5", "nchw"),
    ("mobilenetv3", "mobilenetv3_small_050", (64, 64), "blocks.5", "nchw"),
    ("vit", "test_vit", (48, 64), "blocks.5.norm1", "tokens"),
    ("deit", "deit_tiny_distilled_patch16_224", (48, 64), "blocks.11.norm1", "tokens"),
    ("beit", "beit_base_patch16_224", (48, 64), "blocks.11", "tokens"),
    ("eva", "eva02_tiny_patch14_224", (56, 70), "blocks.11", "tokens"),
    ("swin", "swin_tiny_patch4_window7_224", (64, 64), "layers.3", "nhwc"),
    ("maxvit", "test_maxvit", (64, 64), "stages.3", "nchw"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_world(tmp_path_factory.mktemp("families"), n_images=4, seed=3)


def build(arch: str, size: tuple[int, int]) -> Any:
    """The architecture as a user fine-tuning at ``size`` would have it (``img_size`` when taken)."""
    import timm

    torch.manual_seed(0)
    try:
        return timm.create_model(arch, pretrained=False, num_classes=len(DIAGNOSES), img_size=size)
    except TypeError:
        return timm.create_model(arch, pretrained=False, num_classes=len(DIAGNOSES))


@pytest.mark.parametrize(("family", "arch", "size", "layer", "kind"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_scores_end_to_end(world: dict[str, Path], tmp_path: Path, family: str, arch: str,
                                  size: tuple[int, int], layer: str, kind: str) -> None:
    sub = make_submission(tmp_path / "sub", model=arch, input_size=size, module=build(arch, size))
    loaded = load_submission(sub)
    assert (loaded.target_layer, loaded.layout.kind if loaded.layout else None) == (layer, kind)
    opts = ScoreOptions(device="cpu", batch_size=4, n_boot=10, n_overlays=1)
    summary = score_run(sub, world["store"], world["photos"], tmp_path / "run", opts)
    assert summary.n_images == 4
    entry = json.loads((tmp_path / "run" / "entry.json").read_text())
    assert entry["submission"]["target_layer"] == layer and entry["method"] == "gradcam"


def test_class_token_vit_last_block_has_zero_gradients_and_is_refused_when_asked(tmp_path: Path) -> None:
    """Why the default moves to norm1: an explicit last block of a class-token ViT is refused."""
    sub = make_submission(tmp_path / "vit", model="test_vit", input_size=(48, 64), target_layer="blocks.5")
    with pytest.raises(SubmissionError, match=r"target_layer: the class scores' gradients are zero at every "
                                              r"position of 'blocks.5' \(the head reads only prefix tokens"):
        load_submission(sub)


def test_refused_family_says_why_and_input_attribution_still_scores_it(world: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    """PiT's last stage outputs (tokens, class token): no CAM layer by default, the reason given;
    Integrated Gradients needs none and scores it end to end."""
    size = (64, 64)
    sub = make_submission(tmp_path / "sub", model="pit_ti_224", input_size=size, module=build("pit_ti_224", size))
    message = r"target_layer: 'transformers.2' outputs a tuple \(several tensors\), expected one feature map"
    with pytest.raises(SubmissionError, match=message + r".*integrated-gradients, need no target layer"):
        load_submission(sub)
    lm = load_submission(sub, need_target_layer=False)
    assert lm.target_layer is None and "'transformers.2' outputs a tuple" in lm.layer_problem
    opts = ScoreOptions(method="integrated-gradients", method_options={"steps": 4}, device="cpu", batch_size=4,
                        n_boot=10, n_overlays=0)
    summary = score_run(sub, world["store"], world["photos"], tmp_path / "run", opts)
    assert summary.method == "integrated-gradients(steps=4)" and summary.submission.target_layer == ""
    assert summary.all_zero_maps.n < summary.n_images
    with pytest.raises(SubmissionError, match=message):
        score_run(sub, world["store"], world["photos"], tmp_path / "run2", ScoreOptions(device="cpu"))
    assert not (tmp_path / "run2").exists()
    edit_config(sub, target_layer="head")  # a configured layer is checked whatever the method
    with pytest.raises(SubmissionError, match="target_layer: 'head' outputs a tensor of shape"):
        load_submission(sub, need_target_layer=False)
