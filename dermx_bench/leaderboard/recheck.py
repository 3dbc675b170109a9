"""Re-checking an entry's figures against the ``scores.csv`` they were computed from.

An entry is accepted only when its run's ``scores.csv`` reproduces its figures with the
rules of the entry's own figures version (:mod:`dermx_bench.stats.figures`): its
localisation per characteristic and union (``n_images``, per-rater and fusion
statistics, with the entry's bootstrap seed and size), its per-image union scores, and
its comparison with the human reference of its figures version (``compared_with``, each
``baseline`` taken from ``human_baseline``, ``vs_baseline`` from the per-rater means and
baselines); and its ``predictions.csv`` (kept from entry schema 3 on) reproduces its
``diagnosis`` (accuracy, macro F1, per class, confusion), ``n_images`` and
``n_all_zero_maps``. Numbers must agree within absolute/relative tolerance 1e-9. A
schema-3 entry must also come with the very run files its ``run_files`` name, and match
its ``digest``, which covers the fields no run file reproduces (``weights_sha256``,
``human_baseline``, ``n_reference_images``, ...). A difference is reported as a possible hand edit; an
entry whose figures version this code cannot compute raises
:class:`~dermx_bench.stats.figures.FiguresVersionError` instead (never called tampering).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import PROBABILITY_PREFIX
from dermx_bench.results.entry import Entry, entry_digest
from dermx_bench.stats.figures import REFERENCE_LABELS, FigureRules, figure_rules

if TYPE_CHECKING:
    import pandas as pd

    from dermx_bench.stats.figures import FigureRules

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
    stated: Any, recomputed: Any, path: str = "localisation", tol: float = TOLERANCE, source: str = "scores.csv"
) -> list[str]:
    """Where ``stated`` (the entry) differs from ``recomputed`` (from ``source``, a run file).

    Walks ``recomputed``: every field it has must be in ``stated`` with the same value
    (numbers within ``tol`` absolute or relative; NaN and null both mean undefined).
    Fields only ``stated`` has below the top level (e.g. saved baselines, which
    scores.csv cannot reproduce) are not compared here. At the top level (characteristics,
    or images) both must have the same keys.
    Returns one line per difference, ``path: entry says X, scores.csv gives Y``.
    """
    return [line.replace("scores.csv", source) for line in _compare(stated, recomputed, path, tol, top=True)]


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


def baseline_problems(entry: Entry, rules: FigureRules, tol: float = TOLERANCE) -> list[str]:
    """Where the entry's comparison with the human reference does not follow its figures
    version's rules: ``compared_with`` is not the version's reference, a ``baseline`` is not
    that reference's figure in ``human_baseline``, or ``vs_baseline`` does not follow from
    the per-rater mean and the baseline mean by the version's ``compare``."""
    out: list[str] = []
    if entry.reference != rules.reference:
        out.append(f"compared_with: entry says {entry.reference!r}, figures version {rules.version} compares "
                   f"with {rules.reference!r}")
        return out
    try:
        reference = rules.reference_stats(entry.human_baseline)
    except ValueError as exc:
        return [f"human_baseline: {exc}"]
    for c, loc in entry.localisation.items():
        for m in rules.metrics:
            base = getattr(loc.baseline, m)
            want_base = getattr(reference[c], m) if c in reference else None
            if base != want_base:
                out.append(f"localisation.{c}.baseline.{m}: entry says {base!r}, "
                           f"{REFERENCE_LABELS[rules.reference]} in human_baseline gives {want_base!r}")
            figure, vs = getattr(loc.per_rater, m), getattr(loc.vs_baseline, m)
            if figure is None or vs is None:
                out.append(f"localisation.{c}: figures version {rules.version} needs per_rater.{m} and "
                           f"vs_baseline.{m}")
                continue
            want = rules.compare(figure.mean, None if base is None else base.mean)
            for part in ("difference", "ratio"):
                said, given = getattr(vs, part), getattr(want, part)
                if not _close(said, given, tol):
                    out.append(f"localisation.{c}.vs_baseline.{m}.{part}: entry says "
                               f"{said!r}, per_rater and baseline give {given!r}")
    return out


@dataclass(frozen=True)
class RunFilesOnDisk:
    """Where an entry's run files are: a run's ``scores.csv``/``predictions.csv``, or the
    leaderboard's gzipped copies (``predictions`` None: not kept, entry schema < 3)."""

    scores: Path
    predictions: Path | None = None

    def raw(self, path: Path) -> bytes:
        """The file's bytes as the run wrote them (gzipped copies decompressed)."""
        try:
            data = path.read_bytes()
            return gzip.decompress(data) if path.suffix == ".gz" else data
        except FileNotFoundError:
            raise InputError(path, "", "run file not found") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(path, "", f"cannot read the run file ({exc})") from None


def _read_table(raw: bytes, path: Path, **kw: Any) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(raw), **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, "", f"cannot read the table ({exc})") from None


def _file_problems(entry_file: Path, entry: Entry, data: Mapping[str, Any] | None, files: RunFilesOnDisk,
                   scores_raw: bytes, preds_raw: bytes | None) -> None:
    """Schema 3: the run files are the ones the entry names, and the digest covers the entry."""
    if entry.run_files is None:
        return
    stated = {"scores": (files.scores, scores_raw, entry.run_files.scores_sha256),
              "predictions": (files.predictions, preds_raw, entry.run_files.predictions_sha256)}
    for name, (path, raw, want) in stated.items():
        if path is None or raw is None:
            raise InputError(entry_file, f"run_files.{name}_sha256", f"the run's {name}.csv is not there; an entry "
                             f"of schema version {entry.schema_version} is accepted only with it")
        got = hashlib.sha256(raw).hexdigest()
        if got != want:
            raise InputError(path, "", f"sha256 {got[:12]}... is not {want[:12]}... ({entry_file.name}: "
                             f"run_files.{name}_sha256): not the {name}.csv this entry was computed from")
    if data is not None and entry_digest(data) != entry.digest:
        raise InputError(entry_file, "digest", "the entry is not the one its digest covers: a field was changed "
                         "after the run wrote it (was the entry edited by hand?)")


def _prediction_problems(entry: Entry, preds: pd.DataFrame, scores: pd.DataFrame,
                         rules: FigureRules, tol: float) -> list[str]:
    from dermx_bench.darwin.ontology import load_ontology

    columns = tuple(map(str, preds.columns))
    lead = rules.prediction_columns
    if columns[: len(lead)] != lead or not all(c.startswith(PROBABILITY_PREFIX) for c in columns[len(lead):]):
        return [f"predictions.csv: columns {list(columns)}, expected {list(lead)} then p:<class> columns"]
    images = [str(i) for i in preds["image"]]
    out: list[str] = []
    if len(set(images)) != len(images):
        out.append("predictions.csv: an image is listed more than once")
    unlisted = sorted(set(map(str, scores["image"])) - set(images))
    if unlisted:
        out.append(f"scores.csv: {len(unlisted)} image(s) not in predictions.csv, e.g. {unlisted[0]!r}")
    zero = int((preds["all_zero"].astype(str).str.lower() == "true").sum())
    checks: list[tuple[str, int | None, int]] = [("n_images", entry.n_images, len(images)),
                                                 ("n_all_zero_maps", entry.n_all_zero_maps, zero)]
    if "constant" in preds.columns:
        checks.append(("n_constant_maps", entry.n_constant_maps,
                       int((preds["constant"].astype(str).str.lower() == "true").sum())))
    for fld, stated, given in checks:
        if stated != given:
            out.append(f"{fld}: entry says {stated!r}, predictions.csv gives {given!r}")
    try:
        dx = rules.diagnosis(preds, entry.submission.classes, load_ontology().order)
    except (KeyError, ValueError, TypeError) as exc:
        return [*out, f"diagnosis: predictions.csv cannot be scored ({exc})"]
    stated_dx, given_dx = entry.diagnosis.model_dump(), dx.model_dump()
    out += compare_aggregates(stated_dx.pop("per_class"), given_dx.pop("per_class"), "diagnosis.per_class", tol,
                              source="predictions.csv")
    out += compare_aggregates(stated_dx, given_dx, "diagnosis", tol, source="predictions.csv")
    return out


def check_reproduces(
    entry_file: Path, entry: Entry, files: RunFilesOnDisk | Path, data: Mapping[str, Any] | None = None
) -> None:
    """Raise InputError(entry_file, field, ...) unless the entry's figures follow from its run files.

    Recomputes with the rules of ``entry.figures`` (see the module docstring) from
    ``files.scores`` and, when given, ``files.predictions`` (diagnosis, ``n_images``,
    ``n_all_zero_maps``); then, for a schema-3 entry, the files must be the ones its
    ``run_files`` name and ``data`` (the entry as decoded from its file) must match its
    ``digest``. :class:`~dermx_bench.stats.figures.FiguresVersionError` when this code
    cannot compute the entry's figures version.
    """
    from dermx_bench.darwin.ontology import load_ontology

    files = files if isinstance(files, RunFilesOnDisk) else RunFilesOnDisk(files)
    rules = figure_rules(entry.figures)
    scores_raw = files.raw(files.scores)
    preds_raw = files.raw(files.predictions) if files.predictions is not None else None
    scores = _read_table(scores_raw, files.scores, keep_default_na=True)
    try:
        recomputed = rules.localisation(scores, entry.bootstrap.seed, entry.bootstrap.n, load_ontology().order)
        per_image = rules.per_image_union(scores)
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(files.scores, "", f"cannot aggregate the scores ({exc})") from None
    diffs = compare_aggregates(_dump(entry.localisation), _dump(recomputed), "localisation")
    diffs += compare_aggregates(_dump(entry.per_image_union), _dump(per_image), "per_image_union")
    diffs += baseline_problems(entry, rules)
    if preds_raw is not None and files.predictions is not None:
        preds = _read_table(preds_raw, files.predictions, keep_default_na=False, dtype={"gold": str})
        diffs += _prediction_problems(entry, preds, scores, rules, TOLERANCE)
    if diffs:
        first = diffs[0].split(":", 1)[0].split(".")[0]
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        names = "scores.csv and predictions.csv" if preds_raw is not None else files.scores.name
        raise InputError(
            entry_file, first,
            f"{len(diffs)} figure(s) are not what {names} give(s) with the entry's figures "
            f"version {entry.figures} (was the entry edited by hand?): {shown}",
        )
    _file_problems(entry_file, entry, data, files, scores_raw, preds_raw)  # then what no file reproduces


def _dump(models: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.model_dump() for k, v in models.items()}
