"""A submission's weights: read without running code, hashed, matched strictly to the model.

Weights are never unpickled with code: ``.safetensors``, or a plain state dict read by
``torch.load(weights_only=True)`` (torch's restricted unpickler refuses classes and
functions before any of them runs); a ``.pt``/``.pth`` that is neither a zip nor a pickle
(a text file, an empty file, a Git LFS pointer) is refused from its first bytes
(:func:`check_torch_file`). Every problem is a
:class:`~dermx_bench.core.errors.SubmissionError` naming the configuration file and the
``weights`` field.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.harness.submission_config import config_error

if TYPE_CHECKING:
    import torch


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
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
    raise config_error(config_file, "weights", f"{path.name}: not a torch file: it starts with {head[:24]!r}, not a "
                       f"zip archive or a pickle{lfs}")


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
            raise config_error(config_file, "weights",
                               f"{path.name}: not a readable safetensors file ({exc})") from None
    else:
        check_torch_file(path, config_file)
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise config_error(
                config_file, "weights",
                f"{path.name}: refused: the file is a pickle that holds more than tensors (code or "
                f"classes), which is never unpickled here ({first}). Save a plain state dict "
                "(torch.save(model.state_dict(), ...)) or, better, a .safetensors file",
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError, KeyError, IndexError) as exc:
            raise config_error(config_file, "weights", f"{path.name}: not a readable torch file ({exc!r})") from None
    if not isinstance(sd, dict) or not sd:
        raise config_error(config_file, "weights", f"{path.name}: expected a non-empty state dict "
                           f"(parameter name -> tensor), got {type(sd).__name__}")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        nested = [k for k in bad if isinstance(sd.get(k), dict)]
        hint = (f"; it looks like a checkpoint wrapping the weights under {nested[0]!r}: save "
                "that state dict alone") if nested else ""
        raise config_error(config_file, "weights", f"{path.name}: entry {bad[0]!r} is not a tensor{hint}")
    return dict(sd)


def _listed(what: str, items: list[str], sep: str = ", ") -> str:
    return f"{len(items)} {what}: {sep.join(items[:8])}" + (" ..." if len(items) > 8 else "")


def state_dict_problems(module: Any, sd: dict[str, Any]) -> list[str]:
    """What differs between ``sd`` and the module's state dict (names, shapes); [] when none."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(_listed("missing key(s)", missing))
    if unexpected:
        problems.append(_listed("unexpected key(s)", unexpected))
    if shapes:
        problems.append(_listed("shape mismatch(es)", shapes, "; "))
    return problems


def mismatch_error(problems: list[str], config_file: Path, weights: Path, hint: str = "") -> Exception:
    """The SubmissionError for a state dict that does not match the architecture."""
    return config_error(config_file, "weights", f"{weights.name} does not match the architecture "
                        f"(strict): {' | '.join(problems)}{hint}")
