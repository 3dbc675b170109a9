"""Analyses of finished runs (issue 10): two runs compared image by image, one run by strata.

A run is read from its folder (``entry.json``, ``scores.csv``, ``predictions.csv``) or from
what a leaderboard keeps of it (:class:`RunData` either way). The statistics are in
:mod:`dermx_bench.stats.paired` and :mod:`dermx_bench.stats.strata`; every metric column of
``scores.csv`` is analysed (:func:`dermx_bench.stats.paired.metric_columns`).

Strata (``--by``):

- ``disease``: the gold diagnosis (``predictions.csv``; images without one left out);
- ``correct``: whether the predicted diagnosis is the gold one (``correct``/``wrong``);
- ``skin_tone``, ``age``: the store's metadata (images without a value left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dermx_bench.core.errors import InputError
from dermx_bench.core.names import STRATA, UNION
from dermx_bench.results.analyses import PER_RATER, RunComparison, StrataAnalysis
from dermx_bench.results.entry import Entry, load_entry
from dermx_bench.stats.estimators import COMPARE_N_BOOT, DEFAULT_N_BOOT, DEFAULT_SEED
from dermx_bench.stats.paired import compare_values, metric_columns, per_image_values
from dermx_bench.stats.strata import KRUSKAL, MIN_N, stratify

if TYPE_CHECKING:
    import pandas as pd

STORE_STRATA: tuple[str, ...] = ("skin_tone", "age")
"""Groupings read from the store's metadata."""


class AnalysisError(InputError):
    """Two runs that cannot be compared, or a grouping without data."""


@dataclass(frozen=True)
class RunData:
    """A finished run: where it came from, its entry and its two tables."""

    source: str
    entry: Entry
    scores: pd.DataFrame
    predictions: pd.DataFrame

    @property
    def metrics(self) -> list[str]:
        return metric_columns(self.scores.columns)

    def characteristics(self) -> list[str]:
        """The entry's characteristics in report order (union last)."""
        return list(self.entry.localisation)


def read_table(path: Path, **kw: object) -> pd.DataFrame:
    """A CSV table of a run (InputError naming the file when it cannot be read)."""
    import pandas as pd

    try:
        return pd.read_csv(path, **kw)  # type: ignore[call-overload]
    except FileNotFoundError:
        raise InputError(path, "", "run file not found (is this a finished run folder?)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, "", f"cannot read the table ({exc})") from None


def load_run(folder: str | Path) -> RunData:
    """A finished run's folder (``entry.json``, ``scores.csv``, ``predictions.csv``)."""
    root = Path(folder)
    if not (root / "entry.json").is_file():
        raise InputError(root, "", "not a finished run folder (no entry.json); run 'dermx-bench score' first")
    entry = load_entry(root / "entry.json")
    scores = read_table(root / "scores.csv")
    preds = read_table(root / "predictions.csv", keep_default_na=False, dtype={"gold": str, "predicted": str})
    return RunData(str(root), entry, scores, preds)


def check_comparable(a: RunData, b: RunData) -> None:
    """AnalysisError unless both runs were scored on the same store contents and baseline."""
    ea, eb = a.entry, b.entry
    if ea.store.content_hash != eb.store.content_hash:
        raise AnalysisError(b.source, "entry.json store.content_hash",
                            f"scored on another store ({eb.store.content_hash[:12]}) than {a.source} "
                            f"({ea.store.content_hash[:12]}); compare runs scored on the same store")
    if ea.store.baseline_options != eb.store.baseline_options or ea.human_baseline != eb.human_baseline:
        raise AnalysisError(b.source, "entry.json human_baseline",
                            f"scored against another saved baseline than {a.source}; re-score both runs "
                            "against the same 'dermx-bench agreement --save'")
    if ea.target != eb.target:
        raise AnalysisError(b.source, "entry.json target",
                            f"explains the {eb.target} diagnosis, {a.source} the {ea.target} one")


def compare_runs(
    a: RunData, b: RunData, *, reference: str = PER_RATER, seed: int = DEFAULT_SEED, n_boot: int = COMPARE_N_BOOT,
) -> RunComparison:
    """A against B on the images both scored, every characteristic and metric both have."""
    check_comparable(a, b)
    metrics = [m for m in a.metrics if m in b.metrics]
    va, vb = per_image_values(a.scores, reference, metrics), per_image_values(b.scores, reference, metrics)
    chars = [c for c in a.characteristics() if c in b.entry.localisation]
    ia, ib = set(a.predictions["image"].astype(str)), set(b.predictions["image"].astype(str))
    return RunComparison(
        run_a=a.source, run_b=b.source, name_a=a.entry.name, name_b=b.entry.name, reference=reference,  # type: ignore[arg-type]
        n_shared_images=len(ia & ib), n_only_a=len(ia - ib), n_only_b=len(ib - ia), bootstrap_n=n_boot,
        bootstrap_seed=seed, rows=compare_values(va, vb, chars, metrics, seed=seed, n_boot=n_boot),
    )


def prediction_strata(predictions: pd.DataFrame, by: str) -> dict[str, str | None]:
    """image -> stratum for ``disease`` and ``correct`` (None where the gold diagnosis is unknown)."""
    out: dict[str, str | None] = {}
    for img, gold, pred in zip(predictions["image"].astype(str), predictions["gold"].astype(str),
                               predictions["predicted"].astype(str), strict=True):
        if not gold:
            out[img] = None
        elif by == "disease":
            out[img] = gold
        else:
            out[img] = "correct" if gold == pred else "wrong"
    return out


def store_strata(store_path: str | Path, content_hash: str | None = None) -> dict[str, dict[str, str | None]]:
    """The store's skin tone and age per image (None where the metadata has none);
    AnalysisError when ``content_hash`` is given and the store's differs (not the run's store)."""
    from dermx_bench.store.db import Store

    with Store.open(store_path) as s:
        h = s.content_hash() if content_hash is not None else None
        images = s.images()
    if h is not None and h != content_hash:
        raise AnalysisError(store_path, "", f"is not the store the run was scored on "
                                            f"(content {h[:12]}, the run's {str(content_hash)[:12]})")
    return {"skin_tone": {i.name: i.skin_tone for i in images}, "age": {i.name: i.age for i in images}}


def analyse_run(
    run: RunData, by: Sequence[str], *, store: str | Path | None = None, reference: str = PER_RATER,
    min_n: int = MIN_N, seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_N_BOOT,
    metadata: Mapping[str, Mapping[str, str | None]] | None = None,
) -> StrataAnalysis:
    """The run's metrics per stratum of each grouping in ``by`` (see the module's list).

    ``skin_tone``/``age`` need the store the run was scored on (``store``; its content hash
    must match the run's) or ``metadata`` (grouping -> image -> value).
    """
    unknown = [b for b in by if b not in STRATA]
    if unknown:
        raise AnalysisError(run.source, "--by", f"unknown grouping {unknown[0]!r}; choose from {', '.join(STRATA)}")
    needs_store = [b for b in by if b in STORE_STRATA]
    if needs_store and metadata is None:
        if store is None:
            raise AnalysisError(run.source, "--by", f"{needs_store[0]} comes from the store's metadata: give --store")
        metadata = store_strata(store, run.entry.store.content_hash)
    values = per_image_values(run.scores, reference, run.metrics)
    chars = run.characteristics()
    rows, tests, warnings = [], [], []
    for b in by:
        strata = dict(metadata[b]) if b in STORE_STRATA and metadata is not None else prediction_strata(
            run.predictions, b)
        if not any(v is not None for v in strata.values()):
            warnings.append(f"no image has a {b} value: nothing to stratify by")
            continue
        r, t = stratify(values, strata, b, chars, run.metrics, min_n=min_n, seed=seed, n_boot=n_boot)
        rows += r
        tests += t
        few = sorted({x.stratum for x in r if x.few and x.characteristic == UNION})
        if few:
            warnings.append(f"{b}: under {min_n} images in {', '.join(few)} (union): read their figures with care")
    return StrataAnalysis(run=run.source, name=run.entry.name, reference=reference, by=list(by),  # type: ignore[arg-type]
                          min_n=min_n, test=KRUSKAL, rows=rows, tests=tests, warnings=warnings)
