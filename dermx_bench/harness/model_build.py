"""Build a submission's untrained architecture: a timm model or a trusted entry point.

timm architectures are built with ``pretrained=False`` (nothing is downloaded) and
``num_classes`` = the number of listed classes. An architecture whose constructor takes
``img_size`` (ViT, DeiT, BEiT, EVA, Swin, MaxViT, ...: position embeddings and attention
windows depend on it) is built for the submission's ``input_size`` or at timm's default
size, whichever the weights match strictly (the default one only if it also runs at
``input_size``, as ViTs with ``dynamic_img_size`` do). Running an ``entry_point``
imports Python code from the submission folder and needs ``trust_code``; what that code
raises (at import, build or in any later forward pass) becomes a SubmissionError naming the
submission (:mod:`~dermx_bench.harness.entry_point`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from dermx_bench.harness import entry_point
from dermx_bench.harness.submission_config import SubmissionConfig, config_error
from dermx_bench.harness.weights import mismatch_error, state_dict_problems
from dermx_bench.harness.weights_match import guess_architecture, head_outputs

_BUILD_ERRORS = (TypeError, ValueError, RuntimeError, AssertionError, NotImplementedError)


def check_timm_name(name: str, config_file: Path) -> None:
    """SubmissionError with close names when timm has no architecture ``name``."""
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; close timm names: {', '.join(close)}" if close else ""
        raise config_error(config_file, "model", f"{name!r} is not a timm architecture{hint}")


def build_timm(name: str, n_classes: int, config_file: Path, input_size: tuple[int, int] | None = None) -> Any:
    """``timm.create_model(name, pretrained=False, num_classes=n_classes)``.

    With ``input_size`` (height, width): built for it (``img_size``); None when the
    architecture does not take ``img_size``. Other failures are a SubmissionError on ``model``.
    """
    import timm

    kwargs: dict[str, Any] = {} if input_size is None else {"img_size": tuple(input_size)}
    try:
        return timm.create_model(name, pretrained=False, num_classes=n_classes, **kwargs)
    except _BUILD_ERRORS as exc:
        if kwargs and "img_size" in str(exc) and "unexpected keyword" in str(exc):
            return None
        size = f" for input_size {list(input_size)}" if input_size is not None else ""
        raise config_error(config_file, "model", f"timm could not build {name!r}{size}: {exc}") from None


def runs_at(module: Any, input_size: tuple[int, int]) -> bool:
    """Whether a forward pass of one (H, W) input succeeds."""
    import torch

    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, 3, *input_size))
    except _BUILD_ERRORS:
        return False
    return True


def _default_size(name: str) -> tuple[int, int] | None:
    """(H, W) of timm's default configuration for ``name``, if it has one."""
    import timm

    size = getattr(timm.get_pretrained_cfg(name, allow_unregistered=True), "input_size", None)
    return (int(size[1]), int(size[2])) if size is not None and len(size) == 3 else None


def build_matching(cfg: SubmissionConfig, sd: dict[str, Any], config_file: Path, trust_code: bool) -> Any:
    """The architecture that the state dict ``sd`` matches strictly (see the module docstring).

    A timm model at timm's default size is tried first when ``input_size`` is that size,
    else the model built for ``input_size`` (one build saved in the usual case).
    """
    if cfg.model is None:
        module = build_module(cfg, config_file, trust_code)
        if problems := state_dict_problems(module, sd):
            raise mismatch_error(problems, config_file, cfg.weights)
        return module
    check_timm_name(cfg.model, config_file)
    sized_first = _default_size(cfg.model) not in (None, cfg.input_size)
    found: dict[bool, list[str]] = {}
    default: Any = None
    for sized in ((True, False) if sized_first else (False, True)):
        module = build_timm(cfg.model, len(cfg.classes), config_file, cfg.input_size if sized else None)
        if module is None:  # the architecture does not take img_size
            continue
        found[sized] = state_dict_problems(module, sd)
        if not found[sized] and (sized or runs_at(module, cfg.input_size)):
            return module
        default = module if not sized else default
    if not found[False]:  # matches at timm's default size but does not run at input_size: said later
        return default
    hint = (f". Built for input_size {list(cfg.input_size)} (timm img_size) it does not match either: "
            f"{' | '.join(found[True])}") if found.get(True) else ""
    raise _mismatch(cfg, sd, default, config_file, found[False], hint)


def _mismatch(cfg: SubmissionConfig, sd: dict[str, Any], module: Any, config_file: Path, problems: list[str],
              hint: str) -> Exception:
    """The error for weights that do not fit ``cfg.model``, naming the likely fix first.

    Only the classifier differs: ``classes`` lists a different number of outputs. The
    tensors are another architecture's of the same family: it is named. Else the plain
    strict mismatch (:func:`~dermx_bench.harness.weights.mismatch_error`).
    """
    n_out = head_outputs(module, sd)
    if n_out is not None:
        return config_error(
            config_file, "classes",
            f"{len(cfg.classes)} classes listed, but {cfg.weights.name} holds a classifier with {n_out} outputs: "
            f"list its {n_out} outputs, in output order, in 'classes' of {config_file.name} "
            "(\"ignore\" for an output that is no DermX diagnosis)")
    guess = guess_architecture(str(cfg.model), sd)
    if guess is not None:
        return config_error(
            config_file, "weights",
            f"{cfg.weights.name}: these weights look like {guess}, not {cfg.model}: set model = \"{guess}\" in "
            f"{config_file.name} (strict check against {cfg.model}: {' | '.join(problems)}){hint}")
    return mismatch_error(problems, config_file, cfg.weights, hint)


def build_module(cfg: SubmissionConfig, config_file: Path, trust_code: bool) -> Any:
    """Build the untrained architecture: timm (pretrained=False) or the entry point."""
    import torch

    n = len(cfg.classes)
    if cfg.model is not None:
        check_timm_name(cfg.model, config_file)
        return build_timm(cfg.model, n, config_file)
    if cfg.entry_point is None:  # pragma: no cover - parse_config ensures one of them
        raise config_error(config_file, "model", "missing")
    if not trust_code:
        raise config_error(
            config_file, "entry_point",
            f"{cfg.entry_point!r} runs Python code from the submission folder; review it, then pass "
            "--trust-code (trust_code=True) to allow it",
        )
    fn = entry_point.import_entry_point(config_file.parent, cfg.entry_point, config_file)
    module = entry_point.build(fn, n, cfg.entry_point, config_file)
    if not isinstance(module, torch.nn.Module):
        raise config_error(config_file, "entry_point", f"{cfg.entry_point} returned {type(module).__name__}, "
                           "expected a torch.nn.Module")
    return module
