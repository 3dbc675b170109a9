"""Publishing the leaderboard in one of the registered formats (md, csv, latex, html)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dermx_bench.core.errors import InputError
from dermx_bench.core.files import write_atomic
from dermx_bench.core.registry import Registry
from dermx_bench.leaderboard.board import Board, build_board
from dermx_bench.leaderboard.entries import LeaderboardError, StoredEntry
from dermx_bench.leaderboard.ranking import (
    DEFAULT_N_BOOT,
    DEFAULT_RANK_BY,
    DEFAULT_SEED,
    DEFAULT_TOP,
    check_rank_by,
)
from dermx_bench.leaderboard.seeds import seeded, seeds_markdown
from dermx_bench.leaderboard.tables import render_csv, render_latex, render_markdown
from dermx_bench.leaderboard.text_table import render_text
from dermx_bench.leaderboard.validate import validate

TextRenderer = Callable[[Board], str]

FORMATS: Registry[TextRenderer | None] = Registry("leaderboard format")
"""Text formats map to a renderer; ``html`` (a folder, see :mod:`.site`) maps to None."""
FORMATS.add("md", render_markdown)
FORMATS.add("csv", render_csv)
FORMATS.add("latex", render_latex)
FORMATS.add("text", render_text)
FORMATS.add("html", None)


def list_formats() -> list[str]:
    return FORMATS.names()


def _load_board(
    lb_dir: str | Path, seed: int, n_boot: int, top: int | None, min_coverage: float, rank_by: str = DEFAULT_RANK_BY
) -> tuple[Board, list[StoredEntry]]:
    report = validate(lb_dir, recheck=False)
    if not report.entries:
        raise LeaderboardError(
            [f"{Path(lb_dir) / 'entries'} holds no entry; add one with "
             "'dermx-bench leaderboard add RUN'"],
            "nothing to publish",
        )
    if not 0.0 <= min_coverage <= 1.0:
        raise InputError("--min-coverage", "", f"expected a share in [0, 1], got {min_coverage}")
    board = build_board([s.entry for s in report.entries], seed=seed, n_boot=n_boot, top=top,
                        min_coverage=min_coverage, rank_by=check_rank_by(rank_by))
    return board, report.entries


def seeds_section(stored: list[StoredEntry]) -> str:
    """The Markdown seeds table after the leaderboard ('' when no entry has seed runs)."""
    named = seeded(stored)
    return ("\n" + seeds_markdown(named)) if named else ""


def publish(
    lb_dir: str | Path,
    fmt: str,
    out: str | Path | None,
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    top: int | None = DEFAULT_TOP,
    min_coverage: float = 1.0,
    rank_by: str = DEFAULT_RANK_BY,
) -> str:
    """Publish the leaderboard of ``lb_dir`` in ``fmt``; return the text or the site folder.

    ``md``/``csv``/``latex``/``text``: the rendered text is returned, and written (temp file +
    ``os.replace``) to ``out`` unless ``out`` is None or ``"-"``. ``html``: a static site
    is written to folder ``out`` (required) and its path returned. Entries are checked
    first (schema, file names, one store); run :func:`validate` to also re-check every
    entry's figures against its kept scores. ``seed``/``n_boot``/``top`` set the paired
    bootstrap of each rank against the next (deterministic). Entries covering less than
    ``min_coverage`` of the images with a reference are listed apart, unranked. ``rank_by``:
    the union metric entries are ranked and tested by (default F1).
    """
    renderer = FORMATS.get(fmt)
    if renderer is None:
        if out is None or str(out) == "-":
            raise InputError("--out", str(out), "the html format writes a folder; give --out DIR")
        from dermx_bench.leaderboard.site import write_site

        board, stored = _load_board(lb_dir, seed, n_boot, top, min_coverage, rank_by)
        return str(write_site(board, stored, out))
    board, stored = _load_board(lb_dir, seed, n_boot, top, min_coverage, rank_by)
    text = renderer(board)
    if fmt == "md":
        text += seeds_section(stored)
    if out is not None and str(out) != "-":
        write_atomic(out, text)
    return text
