"""Wall time of the like-for-like human reference and the trivial-map floors beside the other tables.

For each release: ingest it into a temporary store (not timed), then, in ``--rounds``
interleaved rounds in this process, time
1. the agreement tables that ``agreement --save`` computed before (diagnosis, presence,
   localisation, Fleiss, leave-one-out);
2. the ``like-for-like`` table (every rater's outline scored as a model's map: runs, never
   decoded) and 3. the ``floors`` table (ones, centred Gaussian, zeros on every image);
4. the whole ``agreement --save`` (every table, the baseline, one transaction);
and, unless ``--skip-decoded``, 5. the reference implementation that decodes each rater's
outline to an array and scores it as a model's dense map, on the first ``--decoded-images``
images, checking its rows against the fast path (same rows up to 1e-9).
Prints the median of each and the ratios.

Usage: python bench/reference.py [--release v1-2021] [--data $DERMX_DATA] [--rounds 3]
Target (issue 15, 2-core machine): like-for-like + floors within a few seconds more than
the tables of 1. on v1-2021.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OLD_TABLES = ("diagnosis-gold", "diagnosis-pairwise", "presence", "localisation", "fleiss", "leave-one-out")


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _both(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()`` (CPU time is what a busy shared machine distorts least)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bench_release(root: Path, rounds: int, decoded_images: int | None) -> None:
    import numpy as np

    from dermx_bench.consensus.agreement import compute_tables
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.consensus.human_reference import seat_scores, seat_scores_decoded
    from dermx_bench.consensus.references import load_references
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources

    onto = load_ontology()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ingest_sources(db, [root / "annotations"], metadata=root / "metadata.csv")
        with Store.open(db, write=True) as store:
            cases: dict[str, Callable[[], Any]] = {
                "tables before (6)": lambda: compute_tables(store, OLD_TABLES, ontology=onto),
                "like-for-like": lambda: compute_tables(store, ["like-for-like"], ontology=onto),
                "floors": lambda: compute_tables(store, ["floors"], ontology=onto),
                "agreement --save (all)": lambda: save_baselines(store, "2026-01-01T00:00:00+00:00"),
            }
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
            for _ in range(rounds):
                for name, fn in cases.items():
                    times[name].append(_both(fn))
            wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
            base = wall["tables before (6)"]
            print(f"{'case':<26} {'wall (s)':>9} {'cpu (s)':>8} {'wall x tables before':>21}   "
                  f"medians of {rounds} rounds")
            for k in cases:
                print(f"{k:<26} {wall[k]:>9.2f} {cpu[k]:>8.2f} {wall[k] / base:>21.2f}")
            added_w = wall["agreement --save (all)"] - base
            added_c = cpu["agreement --save (all)"] - cpu["tables before (6)"]
            print(f"{'save minus tables before':<26} {added_w:>9.2f} {added_c:>8.2f}   "
                  "(what the reference and the floors add to agreement --save)")
            if decoded_images is None:
                return
            refs = load_references(store, "drop", ontology=onto)[:decoded_images]
            t_fast = _timed(lambda: seat_scores(load_references(store, "drop", ontology=onto)[:decoded_images]))
            t0 = time.perf_counter()
            slow = seat_scores_decoded(refs)
            t_slow = time.perf_counter() - t0
            fast = seat_scores(refs)
            cols = ["f1", "sensitivity", "specificity"]
            same = fast[["seat", "image", "characteristic", "reference"]].equals(
                slow[["seat", "image", "characteristic", "reference"]]) and all(
                np.allclose(fast[c].to_numpy(), slow[c].to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True) for c in cols)
            print(f"seats on {len(refs)} images: runs {t_fast:.2f} s, decoded dense {t_slow:.2f} s "
                  f"({t_slow / t_fast:.0f}x); same rows: {'yes' if same else 'NO'}")
            if not same:
                raise SystemExit("the decoded reference implementation disagrees")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default="v1-2021")
    ap.add_argument("--data", default=os.environ.get("DERMX_DATA", "../shared/dermx"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decoded-images", type=int, default=60)
    ap.add_argument("--skip-decoded", action="store_true", help="do not time the decoded reference")
    args = ap.parse_args()
    root = Path(args.data) / args.release
    if not root.is_dir():
        print(f"error: {root} not found (set DERMX_DATA or --data)", file=sys.stderr)
        return 1
    print(f"release {args.release}")
    bench_release(root, args.rounds, None if args.skip_decoded else args.decoded_images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
