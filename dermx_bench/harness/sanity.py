"""The model randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

Explanation maps that do not change when the model's weights are replaced by random ones
cannot be explaining the model. **Cascading randomisation**: the model's stages
(:func:`randomisation_stages`: its top-level blocks, sequences expanded, from the output
down) are re-initialised one more at a time, from the top, and the maps of the same
images recomputed after each stage. Each randomised map is compared with the original
map of its image: **SSIM** (``skimage.metrics.structural_similarity``, data range 1,
maps at the model's input size) and the **Spearman** rank correlation of their pixels
(``scipy.stats.spearmanr``; undefined for a constant map, left out of the mean).
**Repeatability**: the original maps computed twice (SSIM 1 for a deterministic method).

A parameter is re-initialised from ``N(0, sigma)`` with ``sigma`` its own standard
deviation (0.1 for a constant or single-value parameter), drawn from a
``torch.Generator`` seeded with ``seed``: the same seed gives the same randomised models.
The check **passes** when the maps after the last stage are unlike the original ones:
mean SSIM below :data:`SSIM_THRESHOLD`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.results.analyses import SanityResult, SanityStage

if TYPE_CHECKING:
    import torch

SSIM_THRESHOLD = 0.5
"""Mean SSIM below which the fully randomised model's maps count as unlike the original."""

MapsFn = Callable[["torch.nn.Module", "torch.Tensor"], np.ndarray]
"""(model, input batch) -> float32 (B, H, W) maps in [0, 1] at the input's size."""


def randomisation_stages(module: torch.nn.Module) -> list[str]:
    """Names of the stages to randomise, from the output down: the top-level children that
    hold parameters, with ``Sequential``/``ModuleList`` children expanded into their items."""
    import torch

    names: list[str] = []
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Sequential | torch.nn.ModuleList):
            names += [f"{name}.{n}" for n, c in child.named_children() if any(True for _ in c.parameters())]
        elif any(True for _ in child.parameters()):
            names.append(name)
    return names[::-1]


def randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every parameter of ``module`` in place from ``N(0, sigma)`` (see the module)."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            sigma = float(p.detach().float().std()) if p.numel() > 1 else 0.0
            if not np.isfinite(sigma) or sigma == 0.0:
                sigma = 0.1
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.dtype) * sigma)


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float | None]:
    """(SSIM, Spearman) of two maps (H, W) in [0, 1]; Spearman None when either is constant."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    win = min(7, *a.shape)
    win -= 1 - win % 2  # odd
    s = float(structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1.0, win_size=win))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return s, None
    return s, float(spearmanr(a.ravel(), b.ravel()).statistic)


def _mean(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


@dataclass
class Cascade:
    """The maps of each stage: ``original`` and ``repeat`` (B, H, W), ``stages[k]`` after
    randomising ``layers[: k + 1]``."""

    layers: list[str]
    original: np.ndarray
    repeat: np.ndarray
    stages: list[np.ndarray]


def cascade(model: torch.nn.Module, x: torch.Tensor, maps: MapsFn, *, seed: int = 0,
            stages: Sequence[str] | None = None) -> Cascade:
    """Cascading randomisation of a copy of ``model`` (``model`` itself is left as it is)."""
    import torch

    layers = list(stages) if stages is not None else randomisation_stages(model)
    original = maps(model, x)
    repeat = maps(model, x)
    work = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    out = []
    for name in layers:
        randomise(work.get_submodule(name), g)
        out.append(maps(work, x))
    return Cascade(layers, original, repeat, out)


def judge(c: Cascade, *, name: str, method: str, images: Sequence[str], seed: int,
          threshold: float = SSIM_THRESHOLD) -> SanityResult:
    """The :class:`SanityResult` of a cascade: per stage and image SSIM and Spearman with the originals."""
    rep = [similarity(a, b) for a, b in zip(c.original, c.repeat, strict=True)]
    stages = []
    for k, maps in enumerate(c.stages):
        sims = [similarity(a, b) for a, b in zip(c.original, maps, strict=True)]
        ssim: list[float | None] = [s for s, _ in sims]
        rho = [r for _, r in sims]
        stages.append(SanityStage(stage=k + 1, layers=c.layers[: k + 1], ssim=_mean(ssim), spearman=_mean(rho),
                                  ssim_per_image=ssim, spearman_per_image=rho))
    last = stages[-1].ssim if stages else None
    return SanityResult(name=name, method=method, images=list(images), seed=seed, repeat_ssim=_mean([s for s, _ in rep]),
                        repeat_spearman=_mean([r for _, r in rep]), stages=stages, ssim_threshold=threshold,
                        passed=last is not None and last < threshold)


def check_submission(
    submission: str | Path, store: str | Path, images_dir: str | Path, *, method: str = "gradcam",
    n_images: int = 8, seed: int = 0, device: str = "cpu", trust_code: bool = False,
    threshold: float = SSIM_THRESHOLD, figure: str | Path | None = None, figure_images: int = 3,
) -> SanityResult:
    """The randomisation test of a submission on the first ``n_images`` images (by name) the
    store has a reference and a photograph for, explaining their gold diagnosis with ``method``.
    ``figure``: a PNG of the maps of ``figure_images`` images at every stage."""
    import torch

    from dermx_bench.harness.explainers import get_explainer
    from dermx_bench.harness.run_plan import ScoreOptions, plan_run
    from dermx_bench.harness.scorer import load_batch

    opts = ScoreOptions(method=method, device=device, trust_code=trust_code, n_overlays=0)
    plan = plan_run(submission, store, images_dir, opts)
    lm = plan.loaded
    names = sorted(r.image for r in plan.refs)[:n_images]
    x = torch.from_numpy(load_batch(plan, names)).to(plan.device)
    targets = [int(plan.targets[n]) for n in names]  # type: ignore[arg-type]
    explainer = get_explainer(method)
    options = explainer.resolve({})
    size = tuple(lm.input_size)

    def maps(model: torch.nn.Module, xt: torch.Tensor) -> np.ndarray:
        layer = model.get_submodule(lm.target_layer) if lm.target_layer is not None else None
        cam = explainer(model, layer, xt, targets, options=options, mean=lm.config.mean, std=lm.config.std,
                        reshape=lm.layout.to_nchw if lm.layout is not None else None)
        return _to_size(cam.maps, size)

    model = lm.module.to(plan.device).eval()
    c = cascade(model, x, maps, seed=seed)
    result = judge(c, name=lm.config.name, method=explainer.name, images=names, seed=seed, threshold=threshold)
    if figure is not None:
        from dermx_bench.harness.analysis_plots import sanity_png
        from dermx_bench.harness.images import load_photo

        k = min(figure_images, len(names))
        photos = [np.asarray(load_photo(plan.paths[n]).resize((size[1], size[0]))) for n in names[:k]]
        rows = [[c.original[i], *(s[i] for s in c.stages)] for i in range(k)]
        titles = ["original", *(f"{st.stage}: {st.layers[-1]}\nSSIM {_fmt(st.ssim)}" for st in result.stages)]
        sanity_png(figure, photos, rows, titles, f"{lm.config.name}: cascading randomisation ({explainer.name})")
    return result


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _to_size(maps: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """(B, h, w) maps resampled bilinearly to (B, *size)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    out: Any = torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return np.clip(out[:, 0].numpy(), 0.0, 1.0)
