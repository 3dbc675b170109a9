"""Running a trusted entry point: Python code from a submission folder (``--trust-code``).

``entry_point = "module:function"`` names a Python file (or package) inside the submission
folder, symbolic links followed: a module that resolves outside the folder is refused
before anything runs. The submission's code is the researcher's, not ours, so whatever it
raises (while being imported, while building the model, or later in the model's forward
pass, during the checks or the scoring) becomes an :class:`EntryPointError` (a
:class:`~dermx_bench.core.errors.SubmissionError`) naming the configuration file, the entry
point and the exception, never a traceback.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import SubmissionError
from dermx_bench.core.paths import outside_problem

#: What submitted code may raise: any exception, and ``sys.exit`` (not Ctrl-C).
USER_CODE_ERRORS = (Exception, SystemExit)


class EntryPointError(SubmissionError):
    """An exception raised by the submission's own code, wrapped (see the module docstring)."""


def _raised(config_file: Path, entry_point: str, when: str, exc: BaseException) -> EntryPointError:
    return EntryPointError(f"{config_file}: entry_point: {entry_point!r} raised {type(exc).__name__} {when}: "
                           f"{exc}; fix the submission's code (it runs with --trust-code)")


def import_entry_point(folder: Path, entry_point: str, config_file: Path) -> Callable[..., Any]:
    """The function ``entry_point`` (``"module:function"``) of a module inside ``folder``."""
    mod_name, _, fn_name = entry_point.partition(":")
    parts = mod_name.split(".")
    candidates = [folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py")]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise SubmissionError(f"{config_file}: entry_point: module {mod_name!r} not found in {folder} "
                              f"(looked for {candidates[0].name})")
    if (outside := outside_problem(folder, path.relative_to(folder))) is not None:
        raise SubmissionError(f"{config_file}: entry_point: {path.relative_to(folder)}: {outside}")
    unique = f"_dermx_submission_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}_{parts[-1]}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{config_file}: entry_point: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except USER_CODE_ERRORS as exc:
        raise _raised(config_file, entry_point, f"while importing {path.name}", exc) from exc
    finally:
        if sys.path and sys.path[0] == str(folder):
            sys.path.pop(0)
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SubmissionError(f"{config_file}: entry_point: {path.name} has no function {fn_name!r}")
    return fn


def build(fn: Callable[..., Any], n_classes: int, entry_point: str, config_file: Path) -> Any:
    """``fn(num_classes=n_classes)``, with its exceptions and later those of the model's
    forward pass turned into :class:`SubmissionError` (see the module docstring)."""
    try:
        module = fn(num_classes=n_classes)
    except USER_CODE_ERRORS as exc:
        raise _raised(config_file, entry_point, "while building the model", exc) from exc
    forward = getattr(module, "forward", None)
    if callable(forward):
        module.forward = _guarded(forward, entry_point, config_file)
    return module


def _guarded(forward: Callable[..., Any], entry_point: str, config_file: Path) -> Callable[..., Any]:
    @functools.wraps(forward)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return forward(*args, **kwargs)
        except SubmissionError:  # ours (a check inside a hook): already says what is wrong
            raise
        except USER_CODE_ERRORS as exc:
            raise _raised(config_file, entry_point, "in the model's forward pass", exc) from exc

    return guarded
