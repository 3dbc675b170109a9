"""Images/s of ``score`` in one process vs a Dask LocalCluster of 2 worker processes, and synth-images time.

Scoring: a small synthetic store (``--images`` images at ``--size``, three raters), a tiny
ResNet submission (random weights) and a perturbation explainer (``--method``, default
Kernel SHAP with ``--n-samples`` coalitions, batch 1), scored end to end by ``score_run``
(checks, maps, scoring, aggregates, files) into a new folder each time. The LocalCluster
is started once (its start-up is printed apart); its workers plan the run and load the
model on their first task and keep it for later runs of the same inputs, as a standing
cluster does. Cases interleaved in rounds in one process; per-round ratio (median, min).
Both runs' files are checked to be identical.

Synth-images: ``write_store_images`` of the v1-2021 store's 566 images (with ``--data`` /
``$DERMX_DATA``; skipped otherwise) with ``--synth-workers`` processes, PNG and JPEG, once.
Target (issue 12): <= 60 s on the 2-core machine.

Usage: python bench/cluster.py [--rounds 3] [--images 6] [--method kernel-shap] [--n-samples 64]
                               [--data $DERMX_DATA] [--synth-limit N] [--skip-synth | --skip-scoring]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rounds import interleave, log_round, print_rates, print_ratios  # noqa: E402  (bench/ is this script's folder)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bench_scoring(args: argparse.Namespace, work: Path) -> None:
    from dermx_bench.harness.cluster import local_cluster
    from dermx_bench.harness.run import ScoreOptions, score_run
    from tests.harness_util import make_submission, make_world

    world = make_world(work / "world", args.images, size=tuple(args.size))
    sub = make_submission(work / "sub", input_size=(64, 64))
    opts = ScoreOptions(method=args.method, batch_size=1, n_boot=50, n_overlays=0,
                        method_options={"n_samples": args.n_samples} if args.method == "kernel-shap" else {})
    t0 = time.perf_counter()
    cluster = local_cluster(2)
    print(f"LocalCluster of 2 workers started in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    counter = {"n": 0}

    def run(where: str | None) -> None:
        counter["n"] += 1
        out = work / f"run-{counter['n']}"
        score_run(sub, world["store"], world["photos"], out, opts, cluster=where, now=NOW)  # same date: same bytes

    try:
        times = interleave({"1 process": lambda: run(None), "LocalCluster(2)": lambda: run(cluster.scheduler_address)},
                           args.rounds, on_round=log_round)
    finally:
        cluster.close()
    runs = sorted(work.glob("run-*"), key=lambda p: int(p.name.split("-")[1]))
    first = _files(runs[0])
    differ = sorted({k for r in runs[1:] for k, v in _files(r).items() if first.get(k) != v})
    import torch

    print(f"\nscore, {args.images} images at {args.size[0]}x{args.size[1]} (model input 64x64), {opts.method_label()}, "
          f"batch 1, {args.rounds} rounds; torch threads in this process {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}")
    print_rates(times, args.images)
    print_ratios(times, [("LocalCluster(2)", "1 process")])
    print(f"  run folders identical: {'yes' if not differ else 'NO: ' + ', '.join(differ)}")


def bench_synth(args: argparse.Namespace, work: Path) -> None:
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.images import write_store_images

    data = Path(args.data or os.environ.get("DERMX_DATA", ""))
    if not (data / "v1-2021").is_dir():
        print("\nsynth-images: skipped (set DERMX_DATA or --data)")
        return
    db = work / "v1.db"
    ingest_sources(db, [data / "v1-2021" / "annotations"], metadata=data / "v1-2021" / "metadata.csv")
    print(f"\nsynth-images, v1-2021 ({args.synth_limit or 'all'} images), {args.synth_workers} worker(s):")
    for fmt in ("png", "jpeg"):
        out = work / f"synth-{fmt}"
        t0, c0 = time.perf_counter(), os.times()
        rep = write_store_images(db, out, fmt=fmt, limit=args.synth_limit, workers=args.synth_workers)
        wall, c1 = time.perf_counter() - t0, os.times()
        cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) + (
            c1.children_system - c0.children_system)
        size = sum(p.stat().st_size for p in out.iterdir()) / 2**20
        print(f"  {fmt:<5} {rep.written} photographs in {wall:6.1f} s wall, {cpu:6.1f} s CPU (all processes), "
              f"{size:6.0f} MB; target <= 60 s: {'ok' if wall <= 60 else 'MISSED'}")
        shutil.rmtree(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--size", type=int, nargs=2, default=[96, 128], metavar=("H", "W"))
    p.add_argument("--method", default="kernel-shap", choices=["kernel-shap", "scorecam"])
    p.add_argument("--n-samples", type=int, default=64)
    p.add_argument("--data", default=None)
    p.add_argument("--synth-limit", type=int, default=None)
    p.add_argument("--synth-workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--skip-synth", action="store_true")
    p.add_argument("--skip-scoring", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dermx-bench-cluster-"))
    try:
        if not args.skip_scoring:
            bench_scoring(args, work)
        if not args.skip_synth:
            bench_synth(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
