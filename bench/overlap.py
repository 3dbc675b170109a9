"""Images/s of a scoring run's batch loop with the map maths overlapped vs one stage after another.

A synthetic store (``--images`` images at ``--size``, three raters, photographs with
lesions), a ResNet submission with random weights (``--model``, input ``--input-size``),
Grad-CAM on the gold target, batches of ``--batch-size``. Two cases over the same plan and
model, interleaved in rounds in one process (``bench/rounds.py``):

- sequential: each batch explained (the model) and then finished (upsampling and the ten
  metrics per map) before the next one starts; the default on the CPU;
- overlapped: batch b's map maths runs in a thread while the model explains batch b+1;
  the default on an accelerator.

Both load the next batch's photographs meanwhile (``dermx_bench.harness.run._local_results``).

Both must give the same rows (checked). Prints images/s per case and the per-round ratio
(median, min).

Usage: python bench/overlap.py [--rounds 3] [--images 24] [--size 768 1024] [--batch-size 8]
                               [--model resnet50] [--input-size 300 400]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rounds import interleave, log_round, print_rates, print_ratios  # noqa: E402  (bench/ is this script's folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--size", type=int, nargs=2, default=[768, 1024], metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--model", default="resnet50")
    p.add_argument("--input-size", type=int, nargs=2, default=[300, 400], metavar=("H", "W"))
    args = p.parse_args()

    import torch

    from dermx_bench.core.numeric import flush_denormal
    from dermx_bench.harness.run import _local_results
    from dermx_bench.harness.run_plan import ScoreOptions, plan_run
    from tests.harness_util import make_submission, make_world

    work = Path(tempfile.mkdtemp(prefix="dermx-bench-overlap-"))
    try:
        world = make_world(work / "world", args.images, size=tuple(args.size))
        sub = make_submission(work / "sub", model=args.model, input_size=tuple(args.input_size))
        opts = ScoreOptions(batch_size=args.batch_size, n_boot=50, n_overlays=0)
        plan = plan_run(sub, world["store"], world["photos"], opts)
        names = [r.image for r in plan.refs]
        batches = [names[k : k + opts.batch_size] for k in range(0, len(names), opts.batch_size)]
        rows: dict[str, list[list[object]]] = {}

        def run(overlap: bool) -> None:
            rows[str(overlap)] = [r for res in _local_results(plan, opts, batches, 0, overlap) for r in res.score_rows]

        with flush_denormal():
            times = interleave({"sequential": lambda: run(False), "overlapped": lambda: run(True)}, args.rounds,
                               on_round=log_round)
        print(f"{args.model} at {args.input_size[0]}x{args.input_size[1]}, gradcam, {args.images} photographs of "
              f"{args.size[0]}x{args.size[1]}, batch {args.batch_size}, {args.rounds} rounds; "
              f"torch threads {torch.get_num_threads()}")
        print_rates(times, args.images)
        print_ratios(times, [("overlapped", "sequential")])
        print(f"  same rows: {'yes' if rows['False'] == rows['True'] else 'NO'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
