"""Integrated Gradients, SmoothGrad and Kernel SHAP: the same maps as Captum called directly.

Every reference below calls Captum (and scikit-image's SLIC) the way its documentation
shows, on the model called on pixels, ``model((p - mean) / std)``, from a black baseline
p = 0. Kernel SHAP's reference runs in the model's own normalised space instead (it only
evaluates the model on mixes of the image and the baseline, so both spaces give the same
values); so does a second IG reference, equal up to float rounding (the synthetic
photographs' flat areas make max-pooling ties that rounding breaks either way).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import timm
import torch

from dermx_bench.core.errors import InputError, RegistryError
from dermx_bench.harness.attributions import superpixels
from dermx_bench.harness.explainers import get_explainer, list_explainers
from dermx_bench.harness.explanation_maps import attribution_maps, normalise_maps

MEAN = (0.5, 0.45, 0.4)
STD = (0.25, 0.2, 0.3)
TARGETS = [0, 3, 5]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False, num_classes=6).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """Three synthetic photographs (lesions on skin: SLIC finds superpixels), normalised, 48x64."""
    from dermx_bench.synthetic.images import training_set

    photos, _, _ = training_set(3, (48, 64), seed=4, lesions="diagnosis", marker="diagnosis")
    p = torch.from_numpy(photos).float().permute(0, 3, 1, 2) / 255.0
    return (p - _t(MEAN)) / _t(STD)


def _t(v: tuple[float, float, float]) -> torch.Tensor:
    return torch.tensor(v).view(1, 3, 1, 1)


def _black(x: torch.Tensor) -> torch.Tensor:
    return (-_t(MEAN) / _t(STD)).expand_as(x)


def _on_pixels(model: torch.nn.Module) -> Any:
    return lambda p: model((p - _t(MEAN)) / _t(STD))


def _pixels(x: torch.Tensor) -> torch.Tensor:
    return x * _t(STD) + _t(MEAN)


def _run(name: str, model: torch.nn.Module, x: torch.Tensor, **options: object) -> np.ndarray:
    return get_explainer(name)(model, None, x, TARGETS, options=options, mean=MEAN, std=STD).maps


def test_integrated_gradients_matches_captum_and_is_complete(model: torch.nn.Module, batch: torch.Tensor) -> None:
    from captum.attr import IntegratedGradients

    from dermx_bench.harness.attributions import integrated_gradients

    p = _pixels(batch)
    ref = IntegratedGradients(_on_pixels(model)).attribute(p, baselines=torch.zeros_like(p), target=TARGETS,
                                                           n_steps=64)
    attr, logits, t = integrated_gradients(model, batch, TARGETS, MEAN, STD, steps=64, internal_batch_size=8)
    torch.testing.assert_close(attr, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    np.testing.assert_allclose(_run("ig", model, batch, steps=64), attribution_maps(ref), atol=1e-5)
    normalised = IntegratedGradients(model).attribute(batch, baselines=_black(batch), target=TARGETS, n_steps=64)
    torch.testing.assert_close(attr, normalised, rtol=0, atol=0.01 * float(ref.abs().max()))
    # completeness: the attributions sum to logit(image) - logit(black)
    with torch.no_grad():
        gain = (model(batch) - model(_black(batch)))[range(3), TARGETS]
    np.testing.assert_allclose(attr.sum((1, 2, 3)).numpy(), gain.numpy(), rtol=0.02, atol=2e-3)
    np.testing.assert_array_equal(t, TARGETS)
    assert logits.shape == (3, 6)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("base", ["gradients", "integrated-gradients"])
def test_smoothgrad_matches_captum_noise_tunnel(model: torch.nn.Module, batch: torch.Tensor, base: str) -> None:
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    fwd = _on_pixels(model)
    p = _pixels(batch)
    n, sigma, seed, steps = 6, 0.2, 11, 5
    refs = []
    for i, t in enumerate(TARGETS):
        torch.manual_seed(seed)  # Captum draws the noise from the global generator
        inner = Saliency(fwd) if base == "gradients" else IntegratedGradients(fwd)
        extra = {} if base == "gradients" else {"baselines": 0.0, "n_steps": steps}
        refs.append(NoiseTunnel(inner).attribute(p[i : i + 1], nt_type="smoothgrad", nt_samples=n, stdevs=sigma,
                                                 target=t, **extra))
    ref = torch.cat(refs)
    got = _run("smoothgrad", model, batch, n_samples=n, sigma=sigma, seed=seed, base=base, steps=steps,
               internal_batch_size=4)
    np.testing.assert_allclose(got, attribution_maps(ref), atol=1e-5)


def test_kernel_shap_matches_captum_over_slic(model: torch.nn.Module, batch: torch.Tensor) -> None:
    from captum.attr import KernelShap
    from skimage.segmentation import slic

    pixels = _pixels(batch).permute(0, 2, 3, 1).numpy()
    refs = []
    for i, t in enumerate(TARGETS):
        seg = slic(pixels[i].astype(np.float64), n_segments=12, compactness=10.0, start_label=0, channel_axis=-1)
        assert seg.max() >= 3  # the photographs do split into superpixels
        np.testing.assert_array_equal(superpixels(pixels[i], 12, 10.0), seg)
        torch.manual_seed(7)  # Captum samples coalitions from the global generator
        mask = torch.from_numpy(seg)[None, None].expand(1, 3, *seg.shape)
        refs.append(KernelShap(model).attribute(batch[i : i + 1], baselines=_black(batch[i : i + 1]), target=t,
                                                feature_mask=mask, n_samples=40))
    got = _run("kernel-shap", model, batch, n_samples=40, n_segments=12, seed=7, internal_batch_size=16)
    np.testing.assert_allclose(got, attribution_maps(torch.cat(refs)), atol=1e-5)


@pytest.mark.parametrize(("name", "options"), [
    ("smoothgrad", {"n_samples": 4}),
    ("kernel-shap", {"n_samples": 20, "n_segments": 8}),
])
def test_same_seed_same_maps_whatever_the_batch(model: torch.nn.Module, batch: torch.Tensor, name: str,
                                                options: dict[str, int]) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = _run(name, model, batch, seed=1, **options)
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is left as it was
    np.testing.assert_array_equal(a, _run(name, model, batch, seed=1, **options))
    alone = get_explainer(name)(model, None, batch[2:], TARGETS[2:], options={"seed": 1, **options},
                                mean=MEAN, std=STD).maps
    np.testing.assert_allclose(alone[0], a[2], atol=1e-6)
    assert not np.array_equal(a, _run(name, model, batch, seed=2, **options))


def test_attribution_maps_rule() -> None:
    """Sum over channels, positive part, divided by the maximum (METHODS §10), by hand."""
    attr = np.zeros((2, 3, 1, 3))
    attr[0, :, 0, :] = [[1.0, -2.0, 0.5], [1.0, 1.0, 0.5], [2.0, -1.0, 0.0]]  # channel sums 4, -2, 1
    attr[1] = -1.0
    out = attribution_maps(attr)
    np.testing.assert_allclose(out[0, 0], [1.0, 0.0, 0.25])
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_array_equal(out, normalise_maps(attr.sum(1)))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        attribution_maps(np.zeros((2, 3)))


def test_registry_names_aliases_options_and_labels() -> None:
    assert {"integrated-gradients", "smoothgrad", "kernel-shap", "gradcam", "scorecam"} <= set(list_explainers())
    assert get_explainer("IG").name == "integrated-gradients"
    assert get_explainer("shap").name == "kernel-shap"
    ig = get_explainer("integrated-gradients")
    assert ig.resolve({}) == {"steps": 50, "internal_batch_size": 16}
    assert ig.label({"steps": "100", "internal_batch_size": 4}) == "integrated-gradients(steps=100)"
    sg = get_explainer("smoothgrad")
    assert sg.label() == "smoothgrad(base=gradients, n_samples=25, seed=0, sigma=0.15)"
    assert "steps=50" in sg.label({"base": "integrated-gradients"})
    assert sg.passes_per_image({"base": "integrated-gradients", "n_samples": 10, "steps": 20}) == 200
    assert get_explainer("scorecam").passes_per_image(channels=2048) == 2049
    assert get_explainer("gradcam").label({}) == "gradcam"
    bad_options: list[tuple[dict[str, Any], str]] = [
        ({"stepz": 3}, r"not an option of integrated-gradients \(it takes steps"), ({"steps": 0}, "must be >= 1"),
        ({"steps": "x"}, "expected an integer"), ({"steps": 2.5}, "expected an integer")]
    for bad, message in bad_options:
        with pytest.raises(InputError, match=message):
            ig.resolve(bad)
    with pytest.raises(InputError, match="expected one of gradients, integrated-gradients"):
        sg.resolve({"base": "lime"})
    with pytest.raises(InputError, match="gradcam.*no options"):
        get_explainer("gradcam").resolve({"steps": 3})
    with pytest.raises(RegistryError, match="unknown explanation method 'lime'"):
        get_explainer("lime")
