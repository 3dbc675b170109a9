"""Submission loading: every bad submission gives a clear error naming file and field."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from dermx_bench.core.errors import SubmissionError
from dermx_bench.harness.submission import load_submission
from tests.harness_util import DIAGNOSES, edit_config, make_submission, write_toml

ENTRY_MODULE = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
        self.unused = nn.Conv2d(3, 3, 1)
        self.head = nn.Linear(8, n)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def build(num_classes):
    return Net(num_classes)


def build_four(num_classes):
    return Net(4)
'''


def _entry_submission(folder: Path, fn: str = "build", n_out: int = 6, **overrides: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.py").write_text(ENTRY_MODULE, encoding="utf-8")
    import importlib.util

    spec = importlib.util.spec_from_file_location("net_for_weights", folder / "net.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from safetensors.torch import save_file

    save_file(mod.Net(n_out).state_dict(), str(folder / "net.safetensors"))
    cfg: dict[str, object] = {
        "name": "entry", "authors": ["A"], "entry_point": f"net:{fn}", "weights": "net.safetensors",
        "classes": DIAGNOSES, "input_size": [32, 32], "mean": [0.5] * 3, "std": [0.2] * 3,
        "resize": "stretch", "target_layer": "features",
    }
    cfg.update(overrides)
    write_toml(folder / "submission.toml", {k: v for k, v in cfg.items() if v is not None})
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _bad(folder: Path, *needles: str) -> SubmissionError:
    before = _files(folder)
    with pytest.raises(SubmissionError) as info:
        load_submission(folder)
    msg = str(info.value)
    for n in needles:
        assert n in msg, msg
    assert _files(folder) == before  # nothing written
    return info.value


def test_valid_toml_submission(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    m = load_submission(sub)
    assert m.classes == DIAGNOSES
    assert m.target_layer == "layer4"  # timm feature_info's last stage
    assert m.feature_shape == (96, 2, 2)
    assert m.weights_sha256 == hashlib.sha256((sub / "model.safetensors").read_bytes()).hexdigest()
    assert not m.module.training
    assert not any(p.requires_grad for p in m.module.parameters())
    fields = m.submission_fields()
    assert fields["model"] == "test_resnet" and fields["entry_point"] is None
    assert fields["input_size"] == [64, 64] and fields["resize"] == "stretch"
    json.dumps(fields)


def test_json_config_pt_weights_and_variant_spelling(tmp_path: Path) -> None:
    classes = ["Acne", "ignore", "Seborrhoeic dermatitis"]
    sub = make_submission(tmp_path / "s", classes=classes, weights_format="pt", config_format="json")
    m = load_submission(sub)
    assert m.classes == ["Acne", "ignore", "Seborrheic dermatitis"]
    assert m.diagnosis_indices == {"Acne": 0, "Seborrheic dermatitis": 2}


def test_both_config_files(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    (sub / "submission.json").write_text("{}")
    _bad(sub, "both submission.toml and submission.json")


def test_missing_folder_and_config(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="no such submission folder"):
        load_submission(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionError, match="no submission.toml or submission.json"):
        load_submission(tmp_path / "empty")


def test_invalid_toml(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    (sub / "submission.toml").write_text("name = \n")
    _bad(sub, "submission.toml", "invalid TOML")


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ({"name": None}, ("submission.toml: name: missing",)),
        ({"authors": []}, ("authors:",)),
        ({"modle": "x"}, ("modle: unknown field", "did you mean 'model'")),
        ({"model": "resnet5O"}, ("model:", "not a timm architecture", "resnet50")),
        ({"entry_point": "net:build"}, ("exactly one of 'model'",)),
        ({"classes": ["Acne", "Eczema"]}, ("classes[1]", "'Eczema' is not a diagnosis")),
        ({"classes": ["ignore", "ignore"]}, ("classes:", "at least one must be a diagnosis")),
        ({"classes": ["Acne", "acne", "ignore", "Psoriasis", "Vitiligo", "Viral warts"]},
         ("listed more than once: Acne",)),
        ({"input_size": [64]}, ("input_size:", "[height, width]")),
        ({"mean": [0.5, 0.5]}, ("mean:", "three finite numbers")),
        ({"std": [0.5, 0.0, 0.5]}, ("std:", "> 0")),
        ({"resize": "crop"}, ("resize:", "stretch, shorter-side+center-crop")),
        ({"weights": "other.safetensors"}, ("weights:", "no such file")),
        ({"weights": "model.onnx"}, ("weights:", ".safetensors, .pt, .pth")),
        ({"target_layer": "layer5"}, ("target_layer:", "no module 'layer5'", "layer4")),
        ({"target_layer": "fc"}, ("target_layer:", "'fc' outputs a tensor of shape (1, 6)")),
        ({"input_size": [8, 8]}, ()),  # still valid: 1x1 feature map
    ],
)
def test_bad_fields(tmp_path: Path, override: dict[str, Any], needles: tuple[str, ...]) -> None:
    if "classes" in override or "input_size" in override:
        sub = make_submission(tmp_path / "s", **override)  # weights built to match
    else:
        sub = make_submission(tmp_path / "s")
        edit_config(sub, **override)
    if not needles:
        assert load_submission(sub).feature_shape[1:] == (1, 1)
        return
    _bad(sub, "submission.toml", *needles)


def test_state_dict_of_other_architecture(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    other = make_submission(tmp_path / "o", model="test_efficientnet")
    (sub / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    _bad(sub, "weights:", "these weights look like test_efficientnet, not test_resnet",
         'set model = "test_efficientnet"', "missing key(s)", "unexpected key(s)")


def test_state_dict_shape_mismatch(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    other = make_submission(tmp_path / "o", classes=DIAGNOSES[:5])
    (sub / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    _bad(sub, "classes: 6 classes listed, but model.safetensors holds a classifier with 5 outputs",
         "'classes' of submission.toml")


def test_wrapped_checkpoint_and_garbage(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s", weights_format="pt")
    sd = torch.load(sub / "model.pt", weights_only=True)
    torch.save({"state_dict": sd, "epoch": 3}, sub / "model.pt")
    _bad(sub, "not a tensor", "wrapping the weights under 'state_dict'")
    (sub / "model.pt").write_bytes(b"not a torch file")
    _bad(sub, "weights:", "model.pt")
    sub2 = make_submission(tmp_path / "s2")
    (sub2 / "model.safetensors").write_bytes(b"\x00" * 20)
    _bad(sub2, "not a readable safetensors file")


class _Evil:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("how", ["torch_save", "plain_pickle"])
def test_pickled_code_is_refused_without_unpickling(tmp_path: Path, how: str) -> None:
    sub = make_submission(tmp_path / "s", weights_format="pth")
    marker = tmp_path / "PWNED"
    sd = torch.load(sub / "model.pth", weights_only=True)
    payload = {**sd, "evil": _Evil(marker)}
    if how == "torch_save":
        torch.save(payload, sub / "model.pth")
    else:
        with (sub / "model.pth").open("wb") as fh:
            pickle.dump(payload, fh)
    err = _bad(sub, "weights:", "refused", "never unpickled")
    assert not marker.exists(), "the pickle's code ran"
    assert "safetensors" in str(err)


def test_entry_point_needs_trust(tmp_path: Path) -> None:
    sub = _entry_submission(tmp_path / "e")
    err = _bad(sub, "entry_point:", "--trust-code")
    assert "net:build" in str(err)
    m = load_submission(sub, trust_code=True)
    assert m.config.entry_point == "net:build" and m.config.model is None
    assert m.feature_shape == (8, 8, 8)


def test_entry_point_wrong_number_of_outputs(tmp_path: Path) -> None:
    sub = _entry_submission(tmp_path / "e", fn="build_four", n_out=4)
    with pytest.raises(SubmissionError, match="6 classes listed but the model has 4 outputs"):
        load_submission(sub, trust_code=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_layer": None}, "no timm feature_info; give target_layer"),
        ({"target_layer": "unused"}, "not called in the model's forward pass"),
        ({"entry_point": "missing:build"}, "module 'missing' not found"),
        ({"entry_point": "net:nothing"}, "has no function 'nothing'"),
        ({"entry_point": "not a path"}, "module:function"),
    ],
)
def test_entry_point_problems(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    sub = _entry_submission(tmp_path / "s", **kwargs)
    with pytest.raises(SubmissionError, match=message):
        load_submission(sub, trust_code=True)


NHWC_MODULE = '''
import torch.nn as nn


class ToNHWC(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class Net(nn.Module):
    def __init__(self, n, declare):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.ReLU(), ToNHWC())
        self.head = nn.Linear(16, n)
        if declare:
            self.output_fmt = "NHWC"  # as timm's channels-last models say

    def forward(self, x):
        return self.head(self.features(x).mean((1, 2)))


def build(num_classes):
    return Net(num_classes, declare=False)


def build_declared(num_classes):
    return Net(num_classes, declare=True)
'''


@pytest.mark.parametrize("declared", [False, True])
def test_channels_last_layer_is_read_as_such(tmp_path: Path, declared: bool) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "net.py").write_text(NHWC_MODULE, encoding="utf-8")
    from safetensors.torch import save_file

    namespace: dict[str, Any] = {}
    exec(compile(NHWC_MODULE, "net.py", "exec"), namespace)  # noqa: S102 - our own test module
    save_file(namespace["Net"](6, declared).state_dict(), str(folder / "net.safetensors"))
    write_toml(folder / "submission.toml", {
        "name": "nhwc", "authors": ["A"], "entry_point": f"net:{'build_declared' if declared else 'build'}",
        "weights": "net.safetensors", "classes": DIAGNOSES, "input_size": [32, 32], "mean": [0.5] * 3,
        "std": [0.2] * 3, "resize": "stretch", "target_layer": "features"})
    m = load_submission(folder, trust_code=True)
    assert m.layout is not None and m.layout.kind == "nhwc" and m.feature_shape == (16, 8, 8)


def test_vit_loads_at_its_last_blocks_norm1(tmp_path: Path) -> None:
    """A class-token ViT loads without code; its default layer is the last block's norm1 (tokens folded)."""
    sub = make_submission(tmp_path / "vit", model="test_vit", input_size=(64, 64))
    m = load_submission(sub)
    assert m.target_layer == "blocks.5.norm1"
    assert m.layout is not None and (m.layout.kind, m.layout.prefix, m.layout.grid) == ("tokens", 1, (4, 4))


def test_every_config_problem_is_listed_at_once(tmp_path: Path) -> None:
    sub = make_submission(tmp_path / "s")
    edit_config(sub, name=None, std=[0.5, 0.0, 0.5], resize="crop")
    err = _bad(sub, "submission.toml: 3 problems:", "name: missing (required)", "std: every value must be > 0",
               "resize: expected one of stretch")
    assert str(err).count("\n") == 3
