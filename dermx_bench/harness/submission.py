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
    target_layer = "layer4"            # optional; default: last stage of timm's feature_info

Everything is checked before any scoring starts; every problem raises
:class:`~dermx_bench.core.errors.SubmissionError` naming the file and the field. Weights
are never unpickled with code: ``.safetensors`` or ``torch.load(weights_only=True)``
only. The loaded module is in eval mode with every parameter frozen
(``requires_grad_(False)``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import pickle
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import SubmissionError
from dermx_bench.core.names import IGNORE_CLASS
from dermx_bench.core.paths import outside_problem
from dermx_bench.harness import entry_point
from dermx_bench.harness.images import RESIZE_MODES

if TYPE_CHECKING:
    import torch

    from dermx_bench.darwin.ontology import Ontology

CONFIG_NAMES = ("submission.toml", "submission.json")
IGNORE = IGNORE_CLASS
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")

_FIELDS = (
    "name", "authors", "description", "model", "entry_point", "weights", "classes",
    "input_size", "mean", "std", "resize", "target_layer",
)


@dataclass
class SubmissionConfig:
    """The fields of ``submission.toml``/``.json``, checked and canonical (no model built).

    ``weights`` is resolved against the submission folder; ``target_layer`` is as given
    (None: the default layer is chosen when the model is built).
    """

    name: str
    authors: list[str]
    description: str
    model: str | None
    entry_point: str | None
    weights: Path
    classes: list[str]
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str
    target_layer: str | None


@dataclass
class LoadedModel:
    """A validated submission and its model, ready for explanation maps.

    ``config``: the checked fields; ``target_layer``: the layer explained (the config's,
    or timm's default). ``module`` is a ``torch.nn.Module`` in eval mode with frozen
    parameters, on the CPU. ``classes`` are canonical diagnosis names or ``"ignore"``, one
    per model output; ``input_size`` is (height, width) of the model input;
    ``feature_shape`` is the target layer's (channels, height, width) output for one input.
    """

    folder: Path
    config_file: Path
    config: SubmissionConfig
    weights_sha256: str
    target_layer: str
    module: Any = field(repr=False)
    feature_shape: tuple[int, int, int] = (0, 0, 0)

    @property
    def classes(self) -> list[str]:
        return self.config.classes

    @property
    def input_size(self) -> tuple[int, int]:
        return self.config.input_size

    @property
    def diagnosis_indices(self) -> dict[str, int]:
        """Diagnosis name -> output index (``ignore`` outputs left out)."""
        return {c: i for i, c in enumerate(self.classes) if c != IGNORE}

    def target_module(self) -> torch.nn.Module:
        """The module whose output the CAM methods explain."""
        return self.module.get_submodule(self.target_layer)

    def submission_fields(self) -> dict[str, Any]:
        """The ``submission`` block of a leaderboard entry."""
        c = self.config
        return {
            "model": c.model,
            "entry_point": c.entry_point,
            "classes": list(c.classes),
            "input_size": [int(c.input_size[0]), int(c.input_size[1])],
            "mean": [float(v) for v in c.mean],
            "std": [float(v) for v in c.std],
            "resize": c.resize,
            "target_layer": self.target_layer,
        }


def _err(file: Path, fld: str, what: str) -> SubmissionError:
    return SubmissionError(f"{file}: {fld}: {what}" if fld else f"{file}: {what}")


def find_config(folder: str | Path) -> Path:
    """The configuration file of a submission folder (``submission.toml`` or ``.json``)."""
    p = Path(folder)
    if not p.exists():
        raise SubmissionError(f"{p}: no such submission folder")
    if p.is_file():
        if p.name in CONFIG_NAMES:
            return p
        raise SubmissionError(f"{p}: expected a submission folder holding one of {', '.join(CONFIG_NAMES)}")
    found = [p / n for n in CONFIG_NAMES if (p / n).is_file()]
    if not found:
        raise SubmissionError(f"{p}: no {' or '.join(CONFIG_NAMES)} in the submission folder")
    if len(found) > 1:
        raise SubmissionError(f"{p}: both {CONFIG_NAMES[0]} and {CONFIG_NAMES[1]}; keep only one")
    return found[0]


def read_config(config_file: Path) -> dict[str, Any]:
    """Parse the TOML or JSON configuration; syntax errors name the line."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _err(config_file, f"byte {exc.start}", "expected a UTF-8 text file") from None
    except OSError as exc:
        raise _err(config_file, "", f"cannot read the configuration ({exc.strerror or exc})") from None
    try:
        if config_file.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _err(config_file, "", f"invalid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise _err(config_file, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise _err(config_file, "", "nested too deeply to read") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise _err(config_file, "", f"cannot read the configuration ({exc})") from None
    if not isinstance(data, dict):
        raise _err(config_file, "", "expected a table/object of fields")
    return data


def _str(cfg: dict[str, Any], f: Path, key: str, required: bool = True) -> str | None:
    v = cfg.get(key)
    if v is None:
        if required:
            raise _err(f, key, "missing (required)")
        return None
    if not isinstance(v, str) or not v.strip():
        raise _err(f, key, f"expected a non-empty string, got {v!r}")
    return v


def _floats3(cfg: dict[str, Any], f: Path, key: str, positive: bool) -> tuple[float, float, float]:
    v = cfg.get(key)
    if v is None:
        raise _err(f, key, "missing (required): three numbers, one per RGB channel")
    ok = isinstance(v, list) and len(v) == 3 and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v
    )
    if not ok:
        raise _err(f, key, f"expected three finite numbers (R, G, B), got {v!r}")
    if positive and any(x <= 0 for x in v):
        raise _err(f, key, f"every value must be > 0, got {v!r}")
    return (float(v[0]), float(v[1]), float(v[2]))


def parse_config(cfg: dict[str, Any], config_file: Path, ontology: Ontology) -> SubmissionConfig:
    """Check every field's type and value (no model is built here)."""
    f = config_file
    unknown = [k for k in cfg if k not in _FIELDS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, _FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(_FIELDS)}"
        raise _err(f, k, f"unknown field{hint}")
    name = _str(cfg, f, "name")
    authors = cfg.get("authors")
    if authors is None:
        raise _err(f, "authors", "missing (required): a list of names")
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list) or not authors or not all(isinstance(a, str) and a.strip() for a in authors):
        raise _err(f, "authors", f"expected a non-empty list of names, got {authors!r}")
    description = cfg.get("description", "")
    if not isinstance(description, str):
        raise _err(f, "description", f"expected a string, got {description!r}")
    model = _str(cfg, f, "model", required=False)
    entry_point = _str(cfg, f, "entry_point", required=False)
    if (model is None) == (entry_point is None):
        raise _err(f, "model", "give exactly one of 'model' (a timm architecture) or 'entry_point' "
                   "(\"module:function\")")
    if entry_point is not None:
        mod, sep, fn = entry_point.partition(":")
        if not sep or not mod or not fn or not all(p.isidentifier() for p in mod.split(".")) \
                or not fn.isidentifier():
            raise _err(f, "entry_point", f"expected \"module:function\" (a Python file in the submission "
                       f"folder and a function in it), got {entry_point!r}")
    weights_name = _str(cfg, f, "weights")
    if weights_name is None:  # pragma: no cover - _str raised already
        raise _err(f, "weights", "missing (required)")
    weights = (f.parent / weights_name)
    if (outside := outside_problem(f.parent, weights_name)) is not None:
        raise _err(f, "weights", f"{weights_name!r}: {outside}")
    if weights.suffix not in WEIGHT_SUFFIXES:
        raise _err(f, "weights", f"{weights_name!r}: expected a {', '.join(WEIGHT_SUFFIXES)} file")
    if not weights.is_file():
        raise _err(f, "weights", f"{weights}: no such file")
    classes = cfg.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise _err(f, "classes", f"expected a non-empty list of diagnosis names or \"ignore\", got {classes!r}")
    canonical: list[str] = []
    for i, c in enumerate(classes):
        if c.strip().casefold() == IGNORE:
            canonical.append(IGNORE)
            continue
        res = ontology.resolve(c)
        if res.canonical not in ontology.diagnoses:
            close = difflib.get_close_matches(c, ontology.diagnoses, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _err(f, f"classes[{i}]", f"{c!r} is not a diagnosis of the ontology{hint}; "
                       f"use one of {', '.join(ontology.diagnoses)} or \"ignore\"")
        canonical.append(res.canonical)
    named = [c for c in canonical if c != IGNORE]
    if not named:
        raise _err(f, "classes", "every class is \"ignore\"; at least one must be a diagnosis")
    dup = sorted({c for c in named if named.count(c) > 1})
    if dup:
        raise _err(f, "classes", f"diagnosis listed more than once: {', '.join(dup)}")
    size = cfg.get("input_size")
    if not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 8192 for v in size)):
        raise _err(f, "input_size", f"expected [height, width], two integers in 8..8192, got {size!r}")
    mean = _floats3(cfg, f, "mean", positive=False)
    std = _floats3(cfg, f, "std", positive=True)
    resize = cfg.get("resize")
    if resize not in RESIZE_MODES:
        raise _err(f, "resize", f"expected one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    target_layer = _str(cfg, f, "target_layer", required=False)
    return SubmissionConfig(
        name=str(name), authors=[a.strip() for a in authors], description=description,
        model=model, entry_point=entry_point, weights=weights, classes=canonical,
        input_size=(int(size[0]), int(size[1])), mean=mean, std=std, resize=str(resize),
        target_layer=target_layer,
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_torch_file(path: Path, config_file: Path) -> None:
    """Refuse a ``.pt``/``.pth`` that is neither a zip (``torch.save``) nor a pickle (older torch)."""
    with path.open("rb") as fh:
        head = fh.read(32)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    lfs = " (a Git LFS pointer: fetch the real file with 'git lfs pull')" if head.startswith(b"version https://git-lfs") \
        else ""
    raise _err(config_file, "weights", f"{path.name}: not a torch file: it starts with {head[:24]!r}, not a zip "
               f"archive or a pickle{lfs}")


def load_state_dict(path: Path, config_file: Path) -> dict[str, torch.Tensor]:
    """Read weights without running code: safetensors, or ``torch.load(weights_only=True)``.

    A pickle that needs anything but tensors and plain containers (e.g. a class or
    a function, as a full checkpoint or a malicious file holds) is refused by
    torch's restricted unpickler before any of it runs.
    """
    import torch

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            sd: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise _err(config_file, "weights", f"{path.name}: not a readable safetensors file ({exc})") from None
    else:
        check_torch_file(path, config_file)
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _err(
                config_file, "weights",
                f"{path.name}: refused: the file is a pickle that holds more than tensors (code or "
                f"classes), which is never unpickled here ({first}). Save a plain state dict "
                "(torch.save(model.state_dict(), ...)) or, better, a .safetensors file",
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError, KeyError, IndexError) as exc:
            raise _err(config_file, "weights", f"{path.name}: not a readable torch file ({exc!r})") from None
    if not isinstance(sd, dict) or not sd:
        raise _err(config_file, "weights", f"{path.name}: expected a non-empty state dict "
                   f"(parameter name -> tensor), got {type(sd).__name__}")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        nested = [k for k in bad if isinstance(sd.get(k), dict)]
        hint = (f"; it looks like a checkpoint wrapping the weights under {nested[0]!r}: save "
                "that state dict alone") if nested else ""
        raise _err(config_file, "weights", f"{path.name}: entry {bad[0]!r} is not a tensor{hint}")
    return dict(sd)


def build_module(cfg: SubmissionConfig, config_file: Path, trust_code: bool) -> Any:
    """Build the untrained architecture: timm (pretrained=False) or the entry point."""
    import torch

    n = len(cfg.classes)
    if cfg.model is not None:
        import timm

        if not timm.is_model(cfg.model):
            close = difflib.get_close_matches(cfg.model, timm.list_models(), n=5, cutoff=0.6)
            hint = f"; close timm names: {', '.join(close)}" if close else ""
            raise _err(config_file, "model", f"{cfg.model!r} is not a timm architecture{hint}")
        try:
            return timm.create_model(cfg.model, pretrained=False, num_classes=n)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise _err(config_file, "model", f"timm could not build {cfg.model!r}: {exc}") from None
    if cfg.entry_point is None:  # pragma: no cover - parse_config ensures one of them
        raise _err(config_file, "model", "missing")
    if not trust_code:
        raise _err(
            config_file, "entry_point",
            f"{cfg.entry_point!r} runs Python code from the submission folder; review it, then pass "
            "--trust-code (trust_code=True) to allow it",
        )
    fn = entry_point.import_entry_point(config_file.parent, cfg.entry_point, config_file)
    module = entry_point.build(fn, n, cfg.entry_point, config_file)
    if not isinstance(module, torch.nn.Module):
        raise _err(config_file, "entry_point", f"{cfg.entry_point} returned {type(module).__name__}, "
                   "expected a torch.nn.Module")
    return module


def check_state_dict(module: Any, sd: dict[str, Any], config_file: Path, weights: Path) -> None:
    """Strict match of names and shapes; lists what differs."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {', '.join(missing[:8])}"
                        + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:8])}"
                        + (" ..." if len(unexpected) > 8 else ""))
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {'; '.join(shapes[:8])}"
                        + (" ..." if len(shapes) > 8 else ""))
    if problems:
        raise _err(config_file, "weights", f"{weights.name} does not match the architecture "
                   f"(strict): {' | '.join(problems)}")


def default_target_layer(module: Any, config_file: Path) -> str:
    """The last stage timm's ``feature_info`` reports."""
    info = getattr(module, "feature_info", None)
    last = None
    if isinstance(info, Sequence) and info and isinstance(info[-1], dict):
        last = info[-1].get("module")
    elif info is not None and hasattr(info, "module_name"):
        names = info.module_name()
        last = names[-1] if names else None
    if not isinstance(last, str) or not last:
        raise _err(config_file, "target_layer", "the model reports no timm feature_info; give "
                   "target_layer explicitly (a module path such as \"layer4\")")
    return last


def resolve_target_layer(module: Any, path: str, config_file: Path) -> Any:
    try:
        return module.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
        hint = f"; close module paths: {', '.join(close)}" if close else ""
        raise _err(config_file, "target_layer", f"the model has no module {path!r}{hint}") from None


def _stride_range(n_in: int, n_out: int) -> tuple[float, float]:
    """Strides s for which ceil or floor of n_in / s is n_out (give or take padding)."""
    hi = n_in / (n_out - 1.5) if n_out > 1.5 else math.inf
    return n_in / (n_out + 1.5), hi


def _spatial_ok(size: tuple[int, int], h: int, w: int) -> bool:
    """Whether an (h, w) grid can be the (H, W) input downsampled by one common stride."""
    if h < 1 or w < 1 or h > size[0] or w > size[1]:
        return False
    lo_h, hi_h = _stride_range(size[0], h)
    lo_w, hi_w = _stride_range(size[1], w)
    return max(lo_h, lo_w) < min(hi_h, hi_w)


def check_layer_shape(shape: tuple[int, ...], size: tuple[int, int], layer: str, config_file: Path) -> None:
    """Refuse target-layer outputs that are not (B, C, h, w): tokens or channels-last."""
    where = "target_layer"
    if len(shape) == 3:
        raise _err(config_file, where, f"{layer!r} outputs {tuple(shape)}, which looks like tokens "
                   "(B, N, C); CAMs need a (B, C, h, w) feature map. Choose a convolutional layer or "
                   "wrap the model (entry_point) so the layer returns the tokens reshaped to (B, C, h, w)")
    if len(shape) != 4:
        raise _err(config_file, where, f"{layer!r} outputs a tensor of shape {tuple(shape)}; "
                   "expected (B, C, h, w)")
    _, c, h, w = shape
    if _spatial_ok(size, h, w):
        return
    if _spatial_ok(size, c, h):
        raise _err(config_file, where, f"{layer!r} outputs {tuple(shape)}, which looks channels-last "
                   "(B, h, w, C); refusing to guess. Choose another layer or wrap the model "
                   "(entry_point) so the layer returns (B, C, h, w)")
    raise _err(config_file, where, f"{layer!r} outputs {tuple(shape)} for a {size[0]}x{size[1]} input; "
               "this is not a (B, C, h, w) feature map of the image")


def dry_run(loaded: LoadedModel, config_file: Path) -> tuple[int, int, int]:
    """Run one zero image through the model: output count, target-layer shape and use.

    Returns the target layer's (C, h, w). Raises SubmissionError on any mismatch.
    """
    import torch

    module = loaded.module
    layer = resolve_target_layer(module, loaded.target_layer, config_file)
    seen: list[Any] = []

    def hook(_m: Any, _i: Any, out: Any) -> Any:
        if isinstance(out, torch.Tensor):
            leaf = out.detach().requires_grad_(True)
            seen.append(leaf)
            return leaf.clone()
        seen.append(out)
        return None

    x = torch.zeros(1, 3, *loaded.input_size)
    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            try:
                out = module(x)
            except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
                raise _err(config_file, "input_size", f"the model fails on a "
                           f"{loaded.input_size[0]}x{loaded.input_size[1]} input: {exc}") from None
            if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise _err(config_file, "model", f"expected logits of shape (B, classes), got {shape}")
            if out.shape[1] != len(loaded.classes):
                raise _err(config_file, "classes", f"{len(loaded.classes)} classes listed but the model "
                           f"has {out.shape[1]} outputs")
            if not seen:
                raise _err(config_file, "target_layer", f"{loaded.target_layer!r} is not called in the "
                           "model's forward pass")
            if len(seen) > 1:
                raise _err(config_file, "target_layer", f"{loaded.target_layer!r} is called {len(seen)} "
                           "times in one forward pass; choose a layer used once")
            act = seen[0]
            if not isinstance(act, torch.Tensor):
                raise _err(config_file, "target_layer", f"{loaded.target_layer!r} outputs "
                           f"{type(act).__name__}, expected a (B, C, h, w) tensor")
            check_layer_shape(tuple(act.shape), loaded.input_size, loaded.target_layer, config_file)
            try:
                (grad,) = torch.autograd.grad(out[0].sum(), act, allow_unused=True)
            except RuntimeError as exc:
                raise _err(config_file, "target_layer", f"gradients cannot flow from the outputs to "
                           f"{loaded.target_layer!r}: {exc}") from None
            if grad is None:
                raise _err(config_file, "target_layer", f"the outputs do not depend on "
                           f"{loaded.target_layer!r}; choose a layer before the classifier head")
    finally:
        handle.remove()
    return (int(act.shape[1]), int(act.shape[2]), int(act.shape[3]))


def load_submission(
    folder: str | Path, *, trust_code: bool = False, ontology: Ontology | None = None
) -> LoadedModel:
    """Validate a submission folder and load its model (CPU, eval mode, frozen).

    Checks, in order: the configuration's fields, the architecture (timm name or
    trusted entry point), the weights (safe formats only; sha256 recorded; strict
    names and shapes), the target layer, and a dry run on one zero image (number of
    outputs, target-layer output (B, C, h, w), gradients reaching it).
    """
    from dermx_bench.darwin.ontology import load_ontology

    onto = ontology if ontology is not None else load_ontology()
    config_file = find_config(folder)
    cfg = parse_config(read_config(config_file), config_file, onto)
    sd = load_state_dict(cfg.weights, config_file)
    digest = sha256_file(cfg.weights)
    module = build_module(cfg, config_file, trust_code)
    check_state_dict(module, sd, config_file, cfg.weights)
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise _err(config_file, "weights", f"{cfg.weights.name}: {exc}") from None
    module.eval()
    module.requires_grad_(False)
    layer = cfg.target_layer if cfg.target_layer is not None else default_target_layer(module, config_file)
    resolve_target_layer(module, layer, config_file)
    loaded = LoadedModel(
        folder=config_file.parent, config_file=config_file, config=cfg, weights_sha256=digest,
        target_layer=layer, module=module,
    )
    loaded.feature_shape = dry_run(loaded, config_file)
    return loaded
