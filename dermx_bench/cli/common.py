"""Small helpers shared by the CLI modules: output on stdout, progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from dermx_bench.core.limits import DEFAULT_LOCK_TIMEOUT


def emit_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def progress(total: int | None, desc: str, disable: bool = False) -> Any:
    """A tqdm progress bar on stderr; hidden with ``disable`` or when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=True if disable else None, leave=False)


def store_option(f: Any) -> Any:
    return click.option(
        "--store", "store_path", required=True, type=click.Path(dir_okay=False),
        help="The dataset store (an SQLite file made by 'dermx-bench ingest').",
    )(f)


def lock_timeout_option(f: Any) -> Any:
    return click.option(
        "--lock-timeout", default=DEFAULT_LOCK_TIMEOUT, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
        help="How long to wait for another process writing the store before failing.",
    )(f)


def json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")(f)


class RegistryChoice(click.Choice[str]):
    """A ``click.Choice`` whose names come from a registry, read only when the option is used.

    ``names`` is called when a value is checked or help is shown, so the CLI lists what
    the registry holds without importing it at start-up (``import dermx_bench.cli`` stays
    light). ``extra`` names (e.g. ``all``) follow the registry's.
    """

    def __init__(self, names: Callable[[], Sequence[str]], extra: Sequence[str] = ()) -> None:
        self._names = names
        self._extra = tuple(extra)
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*self._names(), *self._extra)
