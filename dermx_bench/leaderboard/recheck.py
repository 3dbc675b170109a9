"""Re-checking an entry's figures against the ``scores.csv`` they were computed from.

An entry is accepted only when its run's ``scores.csv`` reproduces its figures with the
rules of the entry's own figures version (:mod:`dermx_bench.stats.figures`): its
localisation per characteristic and union (``n_images``, per-rater and fusion
statistics, with the entry's bootstrap seed and size), its per-image union scores, and
its ``vs_baseline`` from its per-rater means and baselines; numbers must agree within
absolute/relative tolerance 1e-9. A difference is reported as a possible hand edit; an
entry whose figures version this code cannot compute raises
:class:`~dermx_bench.stats.figures.FiguresVersionError` instead (never called tampering).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import METRIC_NAMES
from dermx_bench.results.entry import Entry
from dermx_bench.results.figures import Comparison

if TYPE_CHECKING:
    import pandas as pd

TOLERANCE = 1e-9
"""Absolute and relative tolerance when comparing recomputed aggregates with an entry."""


def _number(v: Any) -> float | None:
    """A JSON/NumPy number as float, NaN as None (undefined)."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, str)


def compare_aggregates(
    stated: Any, recomputed: Any, path: str = "localisation", tol: float = TOLERANCE
) -> list[str]:
    """Where ``stated`` (the entry) differs from ``recomputed`` (from scores.csv).

    Walks ``recomputed``: every field it has must be in ``stated`` with the same value
    (numbers within ``tol`` absolute or relative; NaN and null both mean undefined).
    Fields only ``stated`` has below the top level (e.g. saved baselines, which
    scores.csv cannot reproduce) are not compared here. At the top level (characteristics,
    or images) both must have the same keys.
    Returns one line per difference, ``path: entry says X, scores.csv gives Y``.
    """
    return _compare(stated, recomputed, path, tol, top=True)


def _compare(stated: Any, recomputed: Any, path: str, tol: float, top: bool = False) -> list[str]:
    out: list[str] = []
    if isinstance(recomputed, Mapping):
        if not isinstance(stated, Mapping):
            return [f"{path}: entry has {stated!r}, scores.csv gives an object"]
        if top:
            extra = sorted(set(stated) - set(recomputed))
            if extra:
                shown = ", ".join(map(str, extra[:5])) + (" ..." if len(extra) > 5 else "")
                out.append(f"{path}: entry has {len(extra)} key(s) scores.csv lacks: {shown}")
        for key, value in recomputed.items():
            if key not in stated:
                out.append(f"{path}.{key}: missing in the entry, scores.csv gives {value!r}")
                continue
            out += _compare(stated[key], value, f"{path}.{key}", tol)
        return out
    if recomputed is None or _is_number(recomputed):
        a = _number(stated) if (stated is None or _is_number(stated)) else stated
        b = _number(recomputed)
        if a is None and b is None:
            return []
        if (
            a is None or b is None or not isinstance(a, float)
            or not math.isclose(a, b, rel_tol=tol, abs_tol=tol)
        ):
            return [f"{path}: entry says {stated!r}, scores.csv gives {b!r}"]
        return []
    if stated != recomputed:
        return [f"{path}: entry says {stated!r}, scores.csv gives {recomputed!r}"]
    return []


def _close(a: float | None, b: float | None, tol: float = TOLERANCE) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def baseline_problems(
    entry: Entry, compare: Callable[[float | None, float | None], Comparison], tol: float = TOLERANCE
) -> list[str]:
    """Where ``vs_baseline`` does not follow from the per-rater mean and the baseline mean
    by ``compare`` (the comparison rule of the entry's figures version)."""
    out: list[str] = []
    for c, loc in entry.localisation.items():
        for m in METRIC_NAMES:
            base = getattr(loc.baseline, m)
            want = compare(getattr(loc.per_rater, m).mean, None if base is None else base.mean)
            vs = getattr(loc.vs_baseline, m)
            for part in ("difference", "ratio"):
                said, given = getattr(vs, part), getattr(want, part)
                if not _close(said, given, tol):
                    out.append(f"localisation.{c}.vs_baseline.{m}.{part}: entry says "
                               f"{said!r}, per_rater and baseline give {given!r}")
    return out


def _read_scores(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise InputError(path, "", "scores file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise InputError(path, "", f"cannot read the scores table ({exc})") from None


def check_reproduces(entry_file: Path, entry: Entry, scores_path: Path) -> None:
    """Raise InputError(entry_file, field, ...) unless the entry's figures follow from its scores.

    Recomputes with the rules of ``entry.figures`` (see the module docstring);
    :class:`~dermx_bench.stats.figures.FiguresVersionError` when this code cannot.
    """
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.stats.figures import figure_rules

    rules = figure_rules(entry.figures)
    scores = _read_scores(scores_path)
    try:
        recomputed = rules.localisation(scores, entry.bootstrap.seed, entry.bootstrap.n, load_ontology().order)
        per_image = rules.per_image_union(scores)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(scores_path, "", f"cannot aggregate the scores ({exc})") from None
    diffs = compare_aggregates(_dump(entry.localisation), _dump(recomputed), "localisation")
    diffs += compare_aggregates(_dump(entry.per_image_union), _dump(per_image), "per_image_union")
    diffs += baseline_problems(entry, rules.compare)
    if diffs:
        first = diffs[0].split(":", 1)[0].split(".")[0]
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        raise InputError(
            entry_file, first,
            f"{len(diffs)} figure(s) are not what {scores_path.name} gives with the entry's figures "
            f"version {entry.figures} (was the entry edited by hand?): {shown}",
        )


def _dump(models: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.model_dump() for k, v in models.items()}
