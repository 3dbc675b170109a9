"""Explanation methods, registered by name (METHODS.md §7 and §10), with their options and cost.

An :class:`Explainer` is called as ``explainer(model, layer, batch, targets, options=...,
mean=..., std=..., reshape=...)``:

- ``model``: a ``torch.nn.Module`` in eval mode, parameters frozen;
- ``layer``: the module whose output CAM methods explain (input attribution methods
  ignore it; it may then be None), ``reshape`` turning its output into (B, C, h, w)
  (:mod:`dermx_bench.harness.feature_layout`);
- ``batch``: float32 (B, 3, H_in, W_in) model inputs (normalised with ``mean``/``std``,
  which attribution methods need to work in pixel space) on the model's device;
- ``targets``: one class index per image, or a function of the logits returning them;
- ``options``: the method's options (:meth:`Explainer.resolve` fills the defaults);

and returns a :class:`~dermx_bench.harness.explanation_maps.CamOutput`: maps float32
(B, h, w) in [0, 1] on a grid covering the model input uniformly, and the logits.

Methods (``list_explainers()``; aliases in parentheses):

- CAMs on the target layer (:mod:`dermx_bench.harness.cams`, pytorch-grad-cam's
  weightings): ``gradcam`` (default), ``gradcam++``, ``xgradcam``, ``hirescam``,
  ``layercam``, ``eigencam``, ``scorecam``;
- input attributions (:mod:`dermx_bench.harness.attributions`, Captum):
  ``integrated-gradients`` (``ig``), ``smoothgrad``, ``kernel-shap`` (``shap``).

Every method's conventions and cost are in :func:`describe` (the ``score`` help and
``docs/explainers.md`` show them). A method's *label* (``smoothgrad(base=gradients,
n_samples=25, seed=0, sigma=0.15)``) names it with every option that changes its maps;
runs record it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dermx_bench.core.errors import InputError
from dermx_bench.core.registry import Registry
from dermx_bench.harness import attributions, cams
from dermx_bench.harness.explanation_maps import CamOutput, Targets, normalise_maps

DEFAULT_METHOD = "gradcam"
Family = Literal["cam", "attribution"]


@dataclass(frozen=True)
class Option:
    """An option of a method: ``name`` (its default is the function's), ``help``, its limits.

    ``minimum`` (inclusive) for numbers, ``choices`` for text. ``in_label``: whether it
    changes the maps (then the method's label records it); ``when``: (other option,
    value) for an option that only matters then.
    """

    name: str
    help: str
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    in_label: bool = True
    when: tuple[str, Any] | None = None


@dataclass(frozen=True)
class Explainer:
    """A registered explanation method (see the module docstring)."""

    name: str
    family: Family
    run: Callable[..., Any]
    summary: str
    cost: str
    passes: Callable[[dict[str, Any], int], int]
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def uses_target_layer(self) -> bool:
        return self.family == "cam"

    def defaults(self) -> dict[str, Any]:
        """Option name -> default (the keyword defaults of the method's function)."""
        params = inspect.signature(self.run).parameters
        return {o.name: params[o.name].default for o in self.options}

    def resolve(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every option's value: ``given`` (checked, strings converted) over the defaults.

        Raises InputError naming the option and what was expected.
        """
        out = self.defaults()
        known = {o.name: o for o in self.options}
        for key, value in (given or {}).items():
            if key not in known:
                takes = ", ".join(known) if known else "no options"
                raise InputError("--method-option", key, f"not an option of {self.name} (it takes {takes})")
            out[key] = _convert(known[key], out[key], value)
        return out

    def label(self, options: Mapping[str, Any] | None = None) -> str:
        """``name`` or ``name(k=v, ...)`` with the options that change the maps, sorted by name."""
        opts = self.resolve(options)
        shown = sorted((o.name, opts[o.name]) for o in self.options
                       if o.in_label and (o.when is None or opts.get(o.when[0]) == o.when[1]))
        return self.name if not shown else f"{self.name}({', '.join(f'{k}={v}' for k, v in shown)})"

    def passes_per_image(self, options: Mapping[str, Any] | None = None, channels: int = 0) -> int:
        """Model passes per image (a forward+backward counts as one), for cost estimates."""
        return int(self.passes(self.resolve(options), channels))

    def __call__(
        self, model: Any, layer: Any, batch: Any, targets: Targets, *, options: Mapping[str, Any] | None = None,
        mean: tuple[float, float, float] = (0.0, 0.0, 0.0), std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        reshape: Callable[[Any], Any] | None = None,
    ) -> CamOutput:
        opts = self.resolve(options)
        if self.family == "cam":
            out: CamOutput = self.run(model, layer, batch, targets, reshape)
            return out
        return attributions.explain_attribution(self.run, model, batch, targets, mean, std, **opts)


def _convert(opt: Option, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``, within the option's limits."""
    kind = type(default)
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        converted = kind(value)
    except (TypeError, ValueError):
        what = {int: "an integer", float: "a number", str: "text"}.get(kind, kind.__name__)
        raise InputError("--method-option", opt.name, f"expected {what}, got {value!r}") from None
    if opt.minimum is not None and converted < opt.minimum:
        raise InputError("--method-option", opt.name, f"must be >= {opt.minimum:g}, got {converted}")
    if opt.choices and converted not in opt.choices:
        raise InputError("--method-option", opt.name, f"expected one of {', '.join(opt.choices)}, got {value!r}")
    return converted


_REGISTRY: Registry[Explainer] = Registry("explanation method")
_ALIASES: dict[str, str] = {}


def register_explainer(explainer: Explainer) -> Explainer:
    """Add a method (and its aliases) to the registry."""
    _REGISTRY.add(explainer.name, explainer)
    for alias in explainer.aliases:
        _ALIASES[alias] = explainer.name
    return explainer


def list_explainers() -> list[str]:
    """Registered method names, default first (aliases not listed)."""
    return _REGISTRY.names()


def get_explainer(name: str) -> Explainer:
    """The method registered under ``name`` or an alias (RegistryError listing the known ones)."""
    key = name.strip()
    return _REGISTRY.get(_ALIASES.get(key.lower(), key))


def list_cam_methods() -> list[str]:
    """The CAM methods (those that explain a target layer), default first."""
    return [n for n in list_explainers() if _REGISTRY.get(n).family == "cam"]


def get_cam_method(name: str) -> Explainer:
    """``get_explainer`` for code written when every method was a CAM."""
    return get_explainer(name)


def describe(name: str) -> str:
    """One paragraph: name, aliases, conventions, options (with defaults) and cost."""
    e = get_explainer(name)
    aka = f" (also: {', '.join(e.aliases)})" if e.aliases else ""
    defaults = e.defaults()
    opts = "; ".join(f"{o.name}={defaults[o.name]}: {o.help}" for o in e.options)
    return f"{e.name}{aka}: {e.summary}" + (f" Options: {opts}." if opts else "") + f" Cost: {e.cost}"


# -- the methods -------------------------------------------------------------------------------------

_CAM_PASSES = {True: "1 forward + 1 backward down to the target layer per image",
               False: "1 forward per image"}
for _name, _cls, _grads, _aliases, _what in (
    ("gradcam", "GradCAM", True, ("grad-cam",),
     "channel weights = spatial mean of the gradients (Selvaraju et al.)."),
    ("gradcam++", "GradCAMPlusPlus", True, ("gradcampp", "gradcam-plus-plus"),
     "channel weights from second- and third-order gradient terms (Chattopadhay et al.)."),
    ("xgradcam", "XGradCAM", True, (), "gradients weighted by normalised activations (Fu et al.)."),
    ("hirescam", "HiResCAM", True, (), "element-wise gradients x activations, summed over channels."),
    ("layercam", "LayerCAM", True, (), "positive gradients x activations per position (Jiang et al.)."),
    ("eigencam", "EigenCAM", False, (), "first principal component of the activations (no gradients)."),
):
    register_explainer(Explainer(
        _name, "cam", cams.gradcam_family(_cls, _grads),
        f"CAM on the target layer: {_what} ReLU, divided by the maximum.",
        _CAM_PASSES[_grads], lambda o, c: 1, aliases=_aliases))

register_explainer(Explainer(
    "scorecam", "cam", cams.gradcam_family("ScoreCAM", False),
    "CAM on the target layer: each channel's upsampled, min-max scaled activation masks the "
    "input and the target score of the masked input weights it (Wang et al.). ReLU, divided by the maximum.",
    "1 + C forward passes per image (C = channels of the target layer, e.g. 2048 for ResNet-50's "
    "layer4): a perturbation method",
    lambda o, c: 1 + max(c, 1), aliases=("score-cam",)))

_IBS = Option("internal_batch_size", "images per forward/backward pass (memory; not the maps)",
              minimum=1, in_label=False)

register_explainer(Explainer(
    "integrated-gradients", "attribution", attributions.integrated_gradients,
    "Integrated Gradients (Sundararajan et al.) of the target logit w.r.t. the [0, 1] pixels, "
    "from a black image, Gauss-Legendre steps (Captum); summed over channels, positive part, "
    "divided by the maximum.",
    "steps forward+backward passes per image", lambda o, c: int(o["steps"]),
    options=(Option("steps", "integration steps", minimum=1), _IBS),
    aliases=("ig", "integrated_gradients", "integratedgradients")))

register_explainer(Explainer(
    "smoothgrad", "attribution", attributions.smoothgrad,
    "SmoothGrad (Smilkov et al.): the mean over n_samples noisy copies (Gaussian, sigma in "
    "[0, 1] pixel units, seeded per image) of the absolute gradients or of Integrated Gradients "
    "(Captum NoiseTunnel's draw); summed over channels, positive part, divided by the maximum.",
    "n_samples forward+backward passes per image (x steps with base=integrated-gradients)",
    lambda o, c: int(o["n_samples"]) * (int(o["steps"]) if o["base"] == "integrated-gradients" else 1),
    options=(Option("n_samples", "noisy copies per image", minimum=1),
             Option("sigma", "noise standard deviation in [0, 1] pixel units", minimum=0.0),
             Option("base", "what is averaged", choices=attributions.SMOOTHGRAD_BASES),
             Option("steps", "IG steps (base=integrated-gradients)", minimum=1,
                    when=("base", "integrated-gradients")),
             Option("seed", "noise seed", minimum=0), _IBS),
    aliases=("smooth-grad",)))

register_explainer(Explainer(
    "kernel-shap", "attribution", attributions.kernel_shap,
    "Kernel SHAP (Lundberg & Lee; Captum) over SLIC superpixels (scikit-image) of the model-input "
    "image: a superpixel left out is black, n_samples seeded coalitions, each pixel gets its "
    "superpixel's Shapley value; positive part, divided by the maximum.",
    "n_samples forward passes per image: a perturbation method",
    lambda o, c: int(o["n_samples"]) + 1,
    options=(Option("n_samples", "coalitions (model evaluations) per image", minimum=2),
             Option("n_segments", "SLIC superpixels asked for", minimum=2),
             Option("compactness", "SLIC compactness (colour vs space)", minimum=0.0),
             Option("seed", "coalition sampling seed", minimum=0),
             Option("internal_batch_size", "perturbed images per forward pass (memory; not the maps)",
                    minimum=1, in_label=False)),
    aliases=("kernelshap", "kernel_shap", "shap")))


__all__ = ["CamOutput", "DEFAULT_METHOD", "Explainer", "Option", "Targets", "describe", "get_cam_method",
           "get_explainer", "list_cam_methods", "list_explainers", "normalise_maps", "register_explainer"]
