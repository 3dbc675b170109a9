"""A sweep: a grid of submissions x methods x targets (x explainer seeds), each cell a normal run.

``SWEEP.toml``::

    store = "dermx.db"                    # paths relative to the SWEEP.toml's folder
    images = "photos"
    out = "sweep"                         # cell folders: out/<submission>/<method label>/<target>
    submissions = ["models/resnet50", "models/efficientnet"]
    methods = ["gradcam", "scorecam", "kernel-shap"]
    targets = ["gold"]                    # default ["gold"]
    seeds = [0, 1]                        # explainer seeds, for methods with a seed option (default: theirs)
    # optional, as the score flags: batch_size, n_boot, seed (bootstrap), n_overlays, device,
    # precision, memory_format, allow_slow, trust_code, skip_missing
    [method_options.kernel-shap]          # options of one method (as --method-option)
    n_samples = 200

Every cell's entry is named ``<submission name> | <method label> | <target>`` (plus
`` (cell N)`` where two names would share a leaderboard file name) so the leaderboard
keeps the cells apart. Running a sweep again skips finished cells and
resumes unfinished ones (the sweep is resumable as a whole); every check of every cell
(configuration, methods, options) happens before the first cell starts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dermx_bench.core.errors import InputError
from dermx_bench.core.registry import RegistryError
from dermx_bench.harness.run_plan import ScoreOptions, check_options
from dermx_bench.harness.run_state import STATE_FILE, read_state

_KEYS = {"store", "images", "out", "submissions", "methods", "targets", "seeds", "method_options",
         "batch_size", "n_boot", "seed", "n_overlays", "device", "precision", "memory_format", "allow_slow",
         "trust_code", "skip_missing"}
_OPTION_KEYS = ("batch_size", "n_boot", "seed", "n_overlays", "device", "precision", "memory_format", "allow_slow",
                "trust_code", "skip_missing")


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its submission folder, options (entry name included) and run folder."""

    submission: Path
    opts: ScoreOptions
    out: Path

    @property
    def label(self) -> str:
        return f"{self.submission.name} {self.opts.method_label()} {self.opts.target}"


@dataclass(frozen=True)
class Sweep:
    """A parsed SWEEP.toml: the store, photographs and every cell in grid order."""

    file: Path
    store: Path
    images: Path
    out: Path
    cells: list[Cell]


def _component(text: str) -> str:
    """``text`` as one file-name component (characters other than letters, digits and ``._=,+-`` become ``_``)."""
    import re

    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", text).strip(".") or "_"


def _list(doc: dict[str, Any], key: str, file: Path, default: list[Any] | None = None) -> list[Any]:
    value = doc.get(key, default)
    if not isinstance(value, list) or not value:
        raise InputError(file, key, "expected a non-empty list")
    return value


def load_sweep(path: str | Path) -> Sweep:
    """Parse and check ``SWEEP.toml`` (InputError naming the file and key); nothing is loaded or run."""
    from dermx_bench.harness.explainers import get_explainer
    from dermx_bench.harness.submission_config import find_config, read_config

    file = Path(path)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(file, "", f"cannot read the sweep file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(file, "", f"invalid TOML ({exc})") from None
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise InputError(file, unknown[0], f"unknown key (expected: {', '.join(sorted(_KEYS))})")
    base = file.parent
    paths = {}
    for key in ("store", "images", "out"):
        if not isinstance(doc.get(key), str):
            raise InputError(file, key, "expected a path (text)")
        paths[key] = (base / doc[key]).resolve()
    method_options = doc.get("method_options", {})
    if not isinstance(method_options, dict) or not all(isinstance(v, dict) for v in method_options.values()):
        raise InputError(file, "method_options", "expected tables [method_options.<method>]")
    defaults = ScoreOptions()
    for k in _OPTION_KEYS:
        want = type(getattr(defaults, k))
        if k in doc and (type(doc[k]) is not want):
            raise InputError(file, k, f"expected {want.__name__}, got {doc[k]!r}")
    base_opts = replace(defaults, **{k: doc[k] for k in _OPTION_KEYS if k in doc})
    seeds = _list(doc, "seeds", file, [None])
    cells = []
    for sub in _list(doc, "submissions", file):
        folder = (base / str(sub)).resolve()
        config_file = find_config(folder)
        name = str(read_config(config_file).get("name", folder.name))
        for method in _list(doc, "methods", file):
            try:
                explainer = get_explainer(str(method))
            except RegistryError as exc:
                raise InputError(file, "methods", str(exc)) from None
            has_seed = "seed" in explainer.defaults()
            for target in _list(doc, "targets", file, ["gold"]):
                for seed in (seeds if has_seed else [None]):
                    given = dict(method_options.get(str(method), {}))
                    if seed is not None:
                        given["seed"] = seed
                    opts = replace(base_opts, method=str(method), target=str(target), method_options=given)
                    try:
                        check_options(opts)
                    except InputError as exc:
                        raise InputError(file, f"{method}", str(exc)) from None
                    label = opts.method_label()
                    out = paths["out"] / _component(folder.name) / _component(label) / str(target)
                    cells.append(Cell(folder, replace(opts, entry_name=f"{name} | {label} | {target}"), out))
    return Sweep(file, paths["store"], paths["images"], paths["out"], _distinct_names(cells))


def _distinct_names(cells: list[Cell]) -> list[Cell]:
    """Cells whose entry names share a leaderboard file name (``gradcam`` and ``gradcam++``) get `` (cell N)``."""
    from collections import Counter

    from dermx_bench.results.entry import entry_file_stem

    stems = Counter(entry_file_stem(str(c.opts.entry_name)) for c in cells)
    return [c if stems[entry_file_stem(str(c.opts.entry_name))] == 1
            else replace(c, opts=replace(c.opts, entry_name=f"{c.opts.entry_name} (cell {i + 1})"))
            for i, c in enumerate(cells)]


def cell_status(cell: Cell) -> str:
    """``new``, ``unfinished`` or ``complete``: what running the cell will do."""
    if not (cell.out / STATE_FILE).exists():
        return "new"
    state = read_state(cell.out) or {}
    return "complete" if state.get("status") == "complete" else "unfinished"


def run_sweep(
    sweep: Sweep, *, cluster: str | None = None,
    on_cell: Callable[[int, Cell, str], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[Any]:
    """Run every cell (finished ones skipped, unfinished ones resumed); returns their summaries.

    ``cluster``: as ``score --cluster``; ``local:N`` starts one LocalCluster for the whole
    sweep. ``on_cell(index, cell, status)`` before each cell; ``on_plan``/``on_batch`` as
    :func:`~dermx_bench.harness.run.score_run`'s, per cell.
    """
    from dermx_bench.harness.cluster import cluster_address
    from dermx_bench.harness.run import score_run

    summaries = []
    with cluster_address(cluster) as address:
        for i, cell in enumerate(sweep.cells):
            status = cell_status(cell)
            if on_cell is not None:
                on_cell(i, cell, status)
            summaries.append(score_run(cell.submission, sweep.store, sweep.images, cell.out, cell.opts,
                                       resume=status != "new", cluster=address, on_plan=on_plan,
                                       on_batch=on_batch))
    return summaries
