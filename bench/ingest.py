"""Wall time and peak memory of ingesting a whole DermX release (parse, validate, rasterise, encode, commit).

Usage: python bench/ingest.py [--release v2-2023] [--data $DERMX_DATA]
Target (issue 2): v2-2023 in <= 15 s and <= 1 GB peak on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", default="v2-2023")
    ap.add_argument("--data", default=os.environ.get("DERMX_DATA", "../shared/dermx"))
    ap.add_argument("--rounds", type=int, default=1, help="ingests in a row (one case: no ratio; median and best)")
    args = ap.parse_args()
    root = Path(args.data) / args.release
    if not root.is_dir():
        print(f"error: {root} not found (set DERMX_DATA or --data)", file=sys.stderr)
        return 1
    from dermx_bench.store.ingest import ingest_sources

    walls = []
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            report = ingest_sources(Path(tmp) / f"bench{k}.db", [root / "annotations"],
                                    metadata=root / "metadata.csv")
            walls.append(time.perf_counter() - t0)
    wall = sorted(walls)[len(walls) // 2]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rep = report.as_dict()
    print(f"release            {args.release}")
    print(f"evaluations        {rep['evaluations']['read']}")
    print(f"localised annots   {rep['annotations']['localised']}  (masks: {rep['annotations']['masks']})")
    print(f"wall time          {wall:.2f} s   (median of {len(walls)}, best {min(walls):.2f} s; target <= 15 s)")
    print(f"peak memory (RSS)  {peak_mb:.0f} MB  (target <= 1024 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
