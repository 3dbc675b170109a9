"""Input attribution methods (METHODS §10), computed with Captum and scikit-image.

Conventions shared by every method here:

- **Pixel space.** Attributions are taken with respect to the photograph's pixels in
  [0, 1] after the submission's resize/crop and before normalisation: the model is
  called as ``model((p - mean) / std)``. ``batch`` arrives normalised and is turned
  back into pixels ``p = x * std + mean``.
- **Black baseline.** The reference image is black, ``p = 0`` (in the model's input
  space ``-mean / std``).
- **Target.** The logit (before softmax) of each image's own target class.
- **One map per image** (:func:`~dermx_bench.harness.explanation_maps.attribution_maps`):
  sum over channels, keep the positive part, divide by the maximum; maps are at the
  model's input size and undo the resize/crop like CAMs.
- **Randomness.** SmoothGrad's noise and Kernel SHAP's coalitions are drawn per image
  from a generator seeded with ``seed``, so an image's map does not depend on the other
  images of its batch, and the same seed gives the same maps. Captum draws Kernel
  SHAP's coalitions from torch's global CPU generator: it is seeded inside
  ``torch.random.fork_rng``, which restores the global state afterwards.
- **Memory.** ``internal_batch_size`` bounds the images (interpolation steps, noisy
  copies, perturbed images) in one forward/backward pass.

Each function returns ``(attributions float32 (B, 3, H, W), logits float32 (B, K),
targets int64 (B,))``; :func:`explain_attribution` turns that into a ``CamOutput``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.harness.explanation_maps import (
    CamOutput,
    Targets,
    attribution_maps,
    resolve_targets,
)

if TYPE_CHECKING:
    import torch

Rgb = Sequence[float]
Attribution = tuple["torch.Tensor", np.ndarray, np.ndarray]

SMOOTHGRAD_BASES = ("gradients", "integrated-gradients")


class PixelModel:
    """``model`` called on pixels in [0, 1]: ``model((p - mean) / std)`` (a plain callable for Captum)."""

    def __init__(self, model: Any, mean: Rgb, std: Rgb, like: torch.Tensor) -> None:
        import torch

        self.model = model
        self.mean = torch.as_tensor(list(mean), dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        self.std = torch.as_tensor(list(std), dtype=like.dtype, device=like.device).view(1, 3, 1, 1)

    def pixels(self, batch: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs -> pixels."""
        return (batch * self.std + self.mean).detach()

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model((p - self.mean) / self.std)
        return out


def _logits(model: Any, batch: torch.Tensor, targets: Targets) -> tuple[np.ndarray, np.ndarray]:
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(batch).float().cpu().numpy()
    return logits, resolve_targets(targets, logits)


def integrated_gradients(
    model: Any, batch: torch.Tensor, targets: Targets, mean: Rgb, std: Rgb, *, steps: int = 50,
    internal_batch_size: int = 16,
) -> Attribution:
    """Captum ``IntegratedGradients`` from black, ``steps`` Gauss-Legendre steps (Captum's default rule).

    Completeness: the attributions of an image sum to logit(image) - logit(black), up to
    the integration error. Rows per pass: ``max(B, internal_batch_size)``.
    """
    import torch
    from captum.attr import IntegratedGradients

    logits, t = _logits(model, batch, targets)
    fwd = PixelModel(model, mean, std, batch)
    p = fwd.pixels(batch)
    with torch.enable_grad():
        attr = IntegratedGradients(fwd).attribute(
            p, baselines=torch.zeros_like(p), target=t.tolist(),
            n_steps=steps, internal_batch_size=max(internal_batch_size, len(p)),
        )
    return attr.detach(), logits, t


def _noise(shape: tuple[int, ...], sigma: float, seed: int, device: Any) -> torch.Tensor:
    """Gaussian noise as Captum's NoiseTunnel draws it, from a generator seeded with ``seed``."""
    import torch

    gen = torch.Generator(device=device).manual_seed(seed)
    std = torch.tensor(float(sigma), device=device).repeat(shape)
    return torch.normal(0.0, std, generator=gen)


def smoothgrad(
    model: Any, batch: torch.Tensor, targets: Targets, mean: Rgb, std: Rgb, *, n_samples: int = 25,
    sigma: float = 0.15, base: str = "gradients", steps: int = 50, internal_batch_size: int = 16, seed: int = 0,
) -> Attribution:
    """SmoothGrad (Smilkov et al. 2017): the mean attribution over ``n_samples`` noisy copies.

    Noise: Gaussian, standard deviation ``sigma`` in pixel units (the [0, 1] range: sigma
    = 0.15 is Smilkov et al.'s 15 % noise level), drawn for all copies of an image at
    once as Captum's ``NoiseTunnel(nt_type="smoothgrad")`` does. ``base``:
    ``"gradients"`` (Captum ``Saliency``, absolute gradients, its default) or
    ``"integrated-gradients"`` (IG from black with ``steps`` steps on each noisy copy).
    """
    import torch
    from captum.attr import IntegratedGradients, Saliency

    logits, t = _logits(model, batch, targets)
    fwd = PixelModel(model, mean, std, batch)
    p = fwd.pixels(batch)
    out = torch.zeros_like(p)
    with torch.enable_grad():
        for i in range(len(p)):
            noisy = p[i : i + 1].repeat_interleave(n_samples, dim=0) + _noise(
                (n_samples, *p.shape[1:]), sigma, seed, p.device)
            total = torch.zeros_like(p[i])
            if base == "gradients":
                sal = Saliency(fwd)
                for k in range(0, n_samples, internal_batch_size):
                    chunk = noisy[k : k + internal_batch_size].detach().requires_grad_(True)
                    total += sal.attribute(chunk, target=[int(t[i])] * len(chunk)).detach().sum(0)
            else:
                ig = IntegratedGradients(fwd)
                for k in range(n_samples):
                    one = noisy[k : k + 1].detach().requires_grad_(True)
                    total += ig.attribute(one, baselines=torch.zeros_like(one), target=int(t[i]), n_steps=steps,
                                          internal_batch_size=internal_batch_size).detach()[0]
            out[i] = total / n_samples
    return out, logits, t


def superpixels(pixels: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixels (scikit-image, in CIELAB) of one (H, W, 3) image in [0, 1]: int (H, W) labels from 0."""
    from skimage.segmentation import slic

    labels = slic(np.clip(pixels, 0.0, 1.0).astype(np.float64), n_segments=n_segments, compactness=compactness,
                  start_label=0, channel_axis=-1)
    return np.asarray(labels, dtype=np.int64)


def kernel_shap(
    model: Any, batch: torch.Tensor, targets: Targets, mean: Rgb, std: Rgb, *, n_samples: int = 500,
    n_segments: int = 50, compactness: float = 10.0, internal_batch_size: int = 32, seed: int = 0,
) -> Attribution:
    """Captum ``KernelShap`` over SLIC superpixels: a superpixel left out of a coalition is black.

    ``n_samples`` coalitions per image (the model is run on each), Captum's sampling
    (the full and empty coalitions first) and its weighted linear regression; every pixel
    of a superpixel gets that superpixel's Shapley value (an image SLIC leaves in one
    superpixel gets f(image) - f(black) everywhere). Superpixels:
    :func:`superpixels` of the model-input image with ``n_segments`` and ``compactness``.
    """
    import torch
    from captum.attr import KernelShap

    logits, t = _logits(model, batch, targets)
    fwd = PixelModel(model, mean, std, batch)
    p = fwd.pixels(batch)
    out = torch.zeros_like(p)
    shap = KernelShap(fwd)
    with torch.no_grad():
        for i in range(len(p)):
            seg = superpixels(p[i].permute(1, 2, 0).cpu().numpy(), n_segments, compactness)
            if seg.max() == 0:  # one superpixel: its Shapley value is f(image) - f(black)
                one = p[i : i + 1]
                gain = fwd(one)[0, int(t[i])] - fwd(torch.zeros_like(one))[0, int(t[i])]
                out[i] = gain
                continue
            mask = torch.from_numpy(seg).to(p.device)[None, None].expand(1, p.shape[1], *seg.shape)
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(seed)
                out[i] = shap.attribute(p[i : i + 1], baselines=0.0, target=int(t[i]), feature_mask=mask,
                                        n_samples=n_samples, perturbations_per_eval=internal_batch_size)[0]
    return out, logits, t


AttributionFn = Callable[..., Attribution]


def explain_attribution(fn: AttributionFn, model: Any, batch: torch.Tensor, targets: Targets, mean: Rgb,
                        std: Rgb, **options: Any) -> CamOutput:
    """Run an attribution ``fn`` and turn its attributions into maps (§10)."""
    attr, logits, t = fn(model, batch, targets, mean, std, **options)
    return CamOutput(attribution_maps(attr), logits, t)
