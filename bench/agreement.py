"""Wall time of the full localisation-agreement table, via RLE versus a decoded-array reference.

For each release: ingest it into a temporary store (not timed), then time
1. the table as dermx-bench computes it (read references from the store, RLE areas and
   pairwise intersections with pycocotools, no decoding), and
2. a straightforward reference in the same run: decode both masks of every pair to
   full-resolution arrays and take the sums with numpy;
check that the per-pair scores of both are identical, and print the speed-up.

Usage: python bench/agreement.py [--release v1-2021 --release v2-2023] [--data $DERMX_DATA]
                                 [--skip-reference]
Targets (issue 3, 2-core machine): v1-2021 <= 2 s, v2-2023 <= 15 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"v1-2021": 2.0, "v2-2023": 15.0}


def bench_release(root: Path, release: str, reference: bool) -> dict[str, float | int | None]:
    import pandas as pd

    from dermx_bench.consensus.agreement import compute_table
    from dermx_bench.consensus.mask_agreement import localisation_table_from_refs
    from dermx_bench.consensus.references import load_references
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources

    onto = load_ontology()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        ingest_sources(db, [root / "annotations"], metadata=root / "metadata.csv")
        with Store.open(db) as store:
            t0 = time.perf_counter()
            fast = compute_table(store, "localisation", "drop", ontology=onto)
            t_fast = time.perf_counter() - t0
            out: dict[str, float | int | None] = {
                "rle_s": t_fast, "pairs": len(fast.detail) if fast.detail is not None else 0,
                "images": fast.counts["images"], "reference_s": None,
            }
            if reference:
                t0 = time.perf_counter()
                refs = load_references(store, "drop", ontology=onto)
                slow = localisation_table_from_refs(refs, "drop", onto, decoded=True)
                out["reference_s"] = time.perf_counter() - t0
                if fast.detail is None or slow.detail is None:
                    raise SystemExit("no per-pair detail to compare")
                pd.testing.assert_frame_equal(fast.detail, slow.detail, check_exact=True)
                pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", action="append", default=None,
                    help="release folder under the data root (repeatable; default: v1-2021 and v2-2023)")
    ap.add_argument("--data", default=os.environ.get("DERMX_DATA", "../shared/dermx"))
    ap.add_argument("--skip-reference", action="store_true", help="time only the RLE path")
    args = ap.parse_args()
    releases = args.release or ["v1-2021", "v2-2023"]
    for release in releases:
        root = Path(args.data) / release
        if not root.is_dir():
            print(f"error: {root} not found (set DERMX_DATA or --data)", file=sys.stderr)
            return 1
    print(f"{'release':<10} {'images':>6} {'pairs':>7} {'RLE (s)':>8} {'target':>7} "
          f"{'decoded ref (s)':>15} {'speed-up':>9} identical")
    for release in releases:
        r = bench_release(Path(args.data) / release, release, not args.skip_reference)
        ref = r["reference_s"]
        target = TARGETS.get(release)
        ratio = f"{ref / r['rle_s']:.0f}x" if ref else "-"  # type: ignore[operator]
        print(f"{release:<10} {r['images']:>6} {r['pairs']:>7} {r['rle_s']:>8.2f} "
              f"{('<= ' + format(target, 'g')) if target else '-':>7} "
              f"{(format(ref, '.1f') if ref else '-'):>15} {ratio:>9} {'yes' if ref else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
