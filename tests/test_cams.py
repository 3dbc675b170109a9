"""CAM methods: same maps as pytorch-grad-cam, no parameter gradients, hooks released."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dermx_bench.core.errors import RegistryError, SubmissionError
from dermx_bench.harness.explainers import (
    CamOutput,
    get_cam_method,
    list_cam_methods,
    normalise_maps,
)

Net = Any
"""A timm ResNet: its stages (``layer4``) are set at run time, so typed loosely."""

METHODS = {
    "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
    "hirescam": "HiResCAM", "layercam": "LayerCAM", "eigencam": "EigenCAM", "scorecam": "ScoreCAM",
}


@pytest.fixture(scope="module")
def model() -> Net:
    torch.manual_seed(0)
    m = timm.create_model("test_resnet", pretrained=False, num_classes=6).eval()
    return m


def _reference_raw(model: Net, cls_name: str, x: torch.Tensor, targets: list[int]) -> np.ndarray:
    """pytorch-grad-cam used as its README shows (parameters requiring grad), raw cam before scaling."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.requires_grad_(True)
    try:
        objs = [ClassifierOutputTarget(t) for t in targets]
        with getattr(pytorch_grad_cam, cls_name)(model=model, target_layers=[model.layer4]) as cam:
            full = cam(input_tensor=x, targets=objs)
            acts = cam.activations_and_grads.activations[0].numpy()
            grads = (cam.activations_and_grads.gradients[0].numpy()
                     if cam.activations_and_grads.gradients else None)
            raw = cam.get_cam_image(x, model.layer4, objs, acts, grads, False)
        # parameters did get gradients in the reference usage
        assert cls_name in ("EigenCAM", "ScoreCAM") or model.fc.weight.grad is not None
        assert full.shape == (len(targets), *x.shape[-2:])
    finally:
        model.zero_grad(set_to_none=True)
        model.requires_grad_(False)
    return np.asarray(raw)


def test_registry() -> None:
    assert list_cam_methods() == list(METHODS)
    with pytest.raises(RegistryError, match="unknown explanation method .gradcam2.*gradcam, gradcam\\+\\+"):
        get_cam_method("gradcam2")


@pytest.mark.parametrize("name", list(METHODS))
def test_same_maps_as_pytorch_grad_cam(model: Net, name: str) -> None:
    torch.manual_seed(1)
    n = 2 if name == "scorecam" else 4
    x = torch.randn(n, 3, 64, 96)
    targets = [0, 3, 5, 1][:n]
    ref = normalise_maps(_reference_raw(model, METHODS[name], x, targets))
    model.requires_grad_(False)
    out = get_cam_method(name)(model, model.layer4, x, targets)
    assert isinstance(out, CamOutput)
    assert out.maps.shape == (n, 2, 3) and out.maps.dtype == np.float32
    np.testing.assert_allclose(out.maps, ref, atol=1e-5)
    assert out.logits.shape == (n, 6)
    np.testing.assert_array_equal(out.targets, targets)
    assert all(p.grad is None for p in model.parameters())
    assert not model.layer4._forward_hooks


def test_each_image_its_own_target(model: Net) -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 3, 64, 64)
    gradcam = get_cam_method("gradcam")
    batch = gradcam(model, model.layer4, x, [2, 0, 4]).maps
    for i, t in enumerate([2, 0, 4]):
        alone = gradcam(model, model.layer4, x[i : i + 1], [t]).maps[0]
        np.testing.assert_allclose(batch[i], alone, atol=1e-5)


def test_predicted_target_and_eval_mode(model: Net) -> None:
    torch.manual_seed(3)
    x = torch.randn(3, 3, 64, 64)
    model.train()
    out = get_cam_method("gradcam")(model, model.layer4, x, lambda logits: logits.argmax(1))
    assert not model.training
    np.testing.assert_array_equal(out.targets, out.logits.argmax(1))


def test_hooks_released_on_error(model: Net) -> None:
    x = torch.randn(2, 3, 64, 64)
    with pytest.raises(ValueError, match="target outside"):
        get_cam_method("gradcam")(model, model.layer4, x, [0, 9])
    with pytest.raises(ValueError, match="one target per image"):
        get_cam_method("gradcam")(model, model.layer4, x, [0])
    assert not model.layer4._forward_hooks


def test_in_place_op_after_target_layer() -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(inplace=True),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2),
    ).eval().requires_grad_(False)
    out = get_cam_method("gradcam")(net, net[0], torch.randn(2, 3, 8, 8), [0, 1])
    assert out.maps.shape == (2, 8, 8)


def test_normalise_maps_cases() -> None:
    raw = np.array([[[-1.0, 2.0], [4.0, 0.0]], [[-1.0, -2.0], [0.0, 0.0]]], dtype=np.float32)
    out = normalise_maps(raw)
    np.testing.assert_array_equal(out[0], [[0.0, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(out[1], np.zeros((2, 2)))
    assert CamOutput(out, np.zeros((2, 1)), np.zeros(2, np.int64)).all_zero.tolist() == [False, True]
    with pytest.raises(SubmissionError, match=r"not finite.*\[1\]"):
        normalise_maps(np.array([[[1.0]], [[np.nan]]]))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
              elements=st.floats(-1e6, 1e6, width=32)))
def test_normalise_maps_properties(raw: np.ndarray) -> None:
    out = normalise_maps(raw)
    assert out.shape == raw.shape and out.dtype == np.float32
    assert (out >= 0).all() and (out <= 1).all()
    for i in range(len(raw)):
        if (raw[i] > 0).any():
            assert out[i].max() == pytest.approx(1.0)
            # order of positive values preserved: sorted by the raw value, the maps never decrease
            # (distinct raw values may round to one map value; equal ones always give one)
            pos = raw[i] > 0
            by_raw = out[i][pos][np.argsort(raw[i][pos], kind="stable")]
            assert (np.diff(by_raw) >= 0).all()
        else:
            assert not out[i].any()


def test_channels_last_gives_the_same_maps(model: Net) -> None:
    from dermx_bench.harness.device import choose_memory_format

    torch.manual_seed(4)
    x = torch.randn(3, 3, 64, 96)
    ref = get_cam_method("gradcam")(model, model.layer3, x, [0, 1, 2])
    assert choose_memory_format(model, (64, 96), "cpu") == "channels_last"
    model.to(memory_format=torch.channels_last)
    try:
        got = get_cam_method("gradcam")(model, model.layer3, x.contiguous(memory_format=torch.channels_last),
                                        [0, 1, 2])
    finally:
        model.to(memory_format=torch.contiguous_format)
    np.testing.assert_allclose(got.maps, ref.maps, atol=1e-4)
    np.testing.assert_allclose(got.logits, ref.logits, rtol=1e-4, atol=1e-5)


def test_channels_last_refused_for_view_models() -> None:
    from dermx_bench.harness.device import choose_memory_format

    class Viewer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 8 * 8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return self.fc(y.view(y.shape[0], -1))  # fails on channels-last strides

    net = Viewer().eval()
    assert choose_memory_format(net, (8, 8), "cpu") == "contiguous"
    assert choose_memory_format(net, (8, 8), "cpu", "channels_last") == "channels_last"
    assert next(net.parameters()).is_contiguous()
