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


class LineProgress:
    """Progress for logs (stderr not a terminal): ``desc: done/total (pct) elapsed, ETA`` every ``every`` seconds.

    Quiet for work shorter than ``every`` seconds; a last line at :meth:`close` once any was
    printed. Same methods as the tqdm bar it stands in for (``update``, ``close``, ``total``,
    context manager). ``clock``: seconds (monotonic), replaceable in tests.
    """

    def __init__(self, total: int | None, desc: str, every: float = 5.0,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.total, self.desc, self.every = total, desc, every
        self.n = 0
        self._clock = clock or time.monotonic
        self._start = self._last = self._clock()
        self._printed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self.every:
            self._last = now
            self._line(now)

    def _line(self, now: float, final: bool = False) -> None:
        elapsed = now - self._start
        if self.total:
            left = (self.total - self.n) * elapsed / self.n if self.n else None
            eta = "done" if final else (f"ETA {_clock_text(left)}" if left is not None else "ETA ?")
            text = f"{self.desc}: {self.n}/{self.total} ({100 * self.n / self.total:.0f}%) {_clock_text(elapsed)}, {eta}"
        else:
            text = f"{self.desc}: {self.n} {_clock_text(elapsed)}" + (", done" if final else "")
        click.echo(text, err=True)
        self._printed = True

    def refresh(self) -> None:
        """Nothing to redraw (a tqdm bar's method)."""

    def close(self) -> None:
        if self._printed:
            self._line(self._clock(), final=True)
            self._printed = False

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clock_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress(total: int | None, desc: str, disable: bool = False, every: float = 5.0) -> Any:
    """Progress on stderr for every long command: a tqdm bar on a terminal, else (logs, CI) a
    :class:`LineProgress` line every ``every`` seconds with done/total and ETA; nothing with ``disable``.

    Set ``.total`` once known (then ``refresh()`` on a bar); ``update(n)`` after each item.
    """
    from tqdm import tqdm

    if disable or sys.stderr.isatty():
        return tqdm(total=total, desc=desc, file=sys.stderr, disable=disable, leave=False)
    return LineProgress(total, desc, every)


def set_total(bar: Any) -> Callable[[int], None]:
    """A callback that gives ``bar`` (from :func:`progress`) its total once the work knows it."""

    def set_to(n: int) -> None:
        bar.total = n
        bar.refresh()

    return set_to


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
