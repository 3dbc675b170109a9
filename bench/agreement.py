"""Wall time of the full localisation-agreement table, via RLE versus a decoded-array reference.

For each release: ingest it into a temporary store (not timed), then time, interleaved in ``--rounds`` rounds in one process,
1. the table as dermx-bench computes it (read references from the store, RLE areas and
   pairwise intersections with pycocotools, no decoding), and
2. a straightforward reference in the same run: decode both masks of every pair to
   full-resolution arrays and take the sums with numpy;
check that the per-pair scores of both are identical, and print the speed-up per round (median, min).

Usage: python bench/agreement.py [--release v1-2021 --release v2-2023] [--data $DERMX_DATA]
                                 [--skip-reference]
Targets (issue 3, 2-core machine): v1-2021 <= 2 s, v2-2023 <= 15 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rounds import interleave, ratio

TARGETS = {"v1-2021": 2.0, "v2-2023": 15.0}


def bench_release(root: Path, release: str, reference: bool, rounds: int) -> dict[str, Any]:
    """Both paths interleaved in ``rounds`` in this process (results checked identical once)."""
    import pandas as pd

    from dermx_bench.consensus.agreement import compute_table
    from dermx_bench.consensus.mask_agreement import localisation_table_from_refs
    from dermx_bench.consensus.references import load_references
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources

    onto = load_ontology()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ingest_sources(db, [root / "annotations"], metadata=root / "metadata.csv")
        with Store.open(db) as store:
            def rle() -> None:
                results["fast"] = compute_table(store, "localisation", "drop", ontology=onto)

            def decoded() -> None:
                refs = load_references(store, "drop", ontology=onto)
                results["slow"] = localisation_table_from_refs(refs, "drop", onto, decoded=True)

            cases = {"rle": rle, "reference": decoded} if reference else {"rle": rle}
            times = interleave(cases, rounds, warmup=False)
    fast = results["fast"]
    if reference:
        slow = results["slow"]
        if fast.detail is None or slow.detail is None:
            raise SystemExit("no per-pair detail to compare")
        pd.testing.assert_frame_equal(fast.detail, slow.detail, check_exact=True)
        pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)
    return {"times": times, "pairs": len(fast.detail) if fast.detail is not None else 0,
            "images": fast.counts["images"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", action="append", default=None,
                    help="release folder under the data root (repeatable; default: v1-2021 and v2-2023)")
    ap.add_argument("--data", default=os.environ.get("DERMX_DATA", "../shared/dermx"))
    ap.add_argument("--skip-reference", action="store_true", help="time only the RLE path")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; both paths run once per round, interleaved")
    args = ap.parse_args()
    releases = args.release or ["v1-2021", "v2-2023"]
    for release in releases:
        root = Path(args.data) / release
        if not root.is_dir():
            print(f"error: {root} not found (set DERMX_DATA or --data)", file=sys.stderr)
            return 1
    print(f"{'release':<10} {'images':>6} {'pairs':>7} {'RLE (s)':>8} {'target':>7} "
          f"{'decoded ref (s)':>15} {'speed-up (median, min per round)':>33} identical")
    for release in releases:
        r = bench_release(Path(args.data) / release, release, not args.skip_reference, args.rounds)
        t = r["times"]
        ref = statistics.median(t["reference"]) if "reference" in t else None
        target = TARGETS.get(release)
        speed = f"{ratio(t, 'rle', 'reference')[0]:.0f}x, {ratio(t, 'rle', 'reference')[1]:.0f}x" if ref else "-"
        print(f"{release:<10} {r['images']:>6} {r['pairs']:>7} {statistics.median(t['rle']):>8.2f} "
              f"{('<= ' + format(target, 'g')) if target else '-':>7} "
              f"{(format(ref, '.1f') if ref else '-'):>15} {speed:>33} {'yes' if ref else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
