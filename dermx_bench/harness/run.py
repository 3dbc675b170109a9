"""A scoring run: a submission's explanation maps scored against the dermatologists.

``score_run(submission, store, images, out)`` writes the folder ``out``::

    scores.csv        one row per image x characteristic x reference (see dermx_bench.harness.scoring)
    predictions.csv   one row per image: gold, explained target, predicted diagnosis, all-zero map
    summary.json      everything below plus the run's counts (skipped, excluded, all-zero maps)
    summary.md        the same as readable tables
    entry.json        the leaderboard entry (schema: dermx_bench.results.entry)
    overlays/*.png    photo | union of the dermatologists' masks | the model's map
    maps.bin, maps.csv every map on the model's grid with its geometry (dermx_bench.harness.saved_maps):
                      ``rescore`` and ``maps export`` work from them without the model
    run_state.json    what the run was made with and how far it got (for --resume)

Every check (options, submission, store and baseline, photographs, output folder)
happens before any model work. Results are appended per batch to ``.partial/`` and
the state file records the batch count and the byte length of each partial file
after each batch (written via a temporary file and ``os.replace``). After a kill,
``resume=True`` cuts the partial files back to the last recorded batch and goes on;
since batches are the same and every time-dependent field (the entry's date) comes
from the run's start recorded in the state, the final files are byte-identical to an
uninterrupted run's (same machine and software). Final files are written via a
temporary file and ``os.replace``.

A run that fails (a typed error such as a map that is not finite) in its first call
removes what it wrote, leaving ``out`` as it was, so that it can simply be run again; a
resumed run that fails keeps its progress for another ``--resume``. ``--resume`` without
a run in ``out`` is an error, and resuming a finished run removes a ``.partial`` folder
left by a kill during its final clean-up.

The work is split by what it holds: :mod:`~dermx_bench.harness.run_plan` (options and the
checks before model work), :mod:`~dermx_bench.harness.run_state` (the output folder and
state file), :mod:`~dermx_bench.harness.scorer` (a batch's maps and their scores),
:mod:`~dermx_bench.harness.run_results` (the final files and figures) and this module
(the batches, in order, into the run folder).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.core.errors import DermxError
from dermx_bench.core.names import UNION
from dermx_bench.core.paths import child
from dermx_bench.harness.cost import CostEstimate, check_cost, estimate_cost
from dermx_bench.harness.run_plan import Plan, ScoreOptions, plan_run
from dermx_bench.harness.run_report import render_overlay
from dermx_bench.harness.run_results import csv_lines, finalise, overlay_stem
from dermx_bench.harness.run_state import (
    MAPS_PART_BIN,
    MAPS_PART_CSV,
    PARTIAL,
    STATE_FILE,
    RunConflictError,
    RunState,
    append,
    discard_new_run,
    open_parts,
    precheck_out,
    prepare_out,
    write_state,
)
from dermx_bench.harness.saved_maps import encode_maps
from dermx_bench.harness.scorer import BatchResult, OverlayItem, Scorer, load_batch
from dermx_bench.results.run import RunSummary

if TYPE_CHECKING:
    from dermx_bench.consensus.references import ImageReference
    from dermx_bench.harness.explanation_maps import CamOutput

__all__ = ["ScoreOptions", "RunConflictError", "score_run", "plan_run", "overlay_stem"]


def draw_overlay(plan: Plan, out: Path, method_name: str, item: OverlayItem) -> None:
    """Draw one overlay figure into ``out/overlays``."""
    from dermx_bench.harness.images import load_photo

    ref = next(r for r in plan.refs if r.image == item.image)
    union = ref.fuse(UNION) if ref.drawn(UNION) else np.zeros(ref.size, np.float32)
    render_overlay(
        child(out / "overlays", f"{overlay_stem(ref.image)}.png"), load_photo(plan.paths[ref.image]),
        union, item.full, n_raters=len(ref.raters),
        title=f"{ref.image}: gold {ref.gold}, predicted {item.predicted}",
        map_title=(f"{method_name} for {item.explained}"
                   + (f" (union F1 vs fusion {item.f1:.2f})" if item.f1 is not None else "")),
    )


MAX_MATHS_THREADS = 4
"""At most this many images' maths at once in a local run: each holds its full-size map's working
arrays (about 50 bytes a pixel, 400 MB for an 8-megapixel photograph)."""


def _local_results(plan: Plan, o: ScoreOptions, batches: Sequence[Sequence[str]], done: int,
                   overlap: bool | None = None) -> Iterator[BatchResult]:
    """The batches from ``done`` on, scored in this process; the next batch's photographs load meanwhile.

    With ``overlap`` (None: when the model runs on an accelerator), the map maths of batch
    ``b`` (upsampling and scoring: :meth:`Scorer.finish`) runs in a thread while the model
    explains batch ``b + 1``, off the model's critical path. On the CPU it does not: the
    forward and backward passes already keep every core busy, and ``bench/overlap.py``
    measured the overlapped loop 0.94x as fast on 2 cores. The first batch of a call is
    always finished before the next starts, so that the cost check after it
    (``check_cost``) stops the run with no model work wasted. The files are the same bits
    either way. A result's ``seconds`` is its own work, loading apart: explaining plus finishing.
    """
    import time

    scorer = Scorer(plan, o, maths_threads=min(len(os.sched_getaffinity(0)), MAX_MATHS_THREADS))
    if overlap is None:
        overlap = plan.device != "cpu"

    def finish(refs: Sequence[ImageReference], cam: CamOutput, explained_in: float) -> BatchResult:
        started = time.perf_counter()
        result = scorer.finish(refs, cam)
        result.seconds = explained_in + time.perf_counter() - started
        return result

    with ThreadPoolExecutor(max_workers=1) as loader, ThreadPoolExecutor(max_workers=1) as maths:
        def load(b: int) -> Any:
            return loader.submit(load_batch, plan, batches[b]) if b < len(batches) else None

        nxt = load(done)
        pending: Any = None
        for b in range(done, len(batches)):
            x = nxt.result()
            nxt = load(b + 1)
            refs = [scorer.by_name[n] for n in batches[b]]
            started = time.perf_counter()
            cam = scorer.explain(refs, x)
            explained_in = time.perf_counter() - started
            if pending is not None:
                yield pending.result()
                pending = None
            if overlap and b > done:
                pending = maths.submit(finish, refs, cam, explained_in)
            else:
                yield finish(refs, cam, explained_in)
        if pending is not None:
            yield pending.result()


def score_run(
    submission: str | Path,
    store_path: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    opts: ScoreOptions | None = None,
    *,
    resume: bool = False,
    on_batch: Callable[[int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
    on_estimate: Callable[[CostEstimate], None] | None = None,
    cluster: str | None = None,
) -> RunSummary:
    """Run (or resume) a scoring run; returns the summary (as in ``summary.json``).

    ``on_plan(total_images, already_done)`` is called once before model work,
    ``on_batch(n_images)`` after each batch. ``now``: the start time to record
    (default: ``SOURCE_DATE_EPOCH`` if set, else the clock); a resumed run keeps the
    recorded one. Denormal floats are flushed to zero during the run (CPU speed).
    ``on_estimate(CostEstimate)`` gets the run's time estimated from its first batch; a
    CPU run estimated over an hour raises SlowRunError unless ``opts.allow_slow``, and
    like any failure leaves the output folder as it was (a resumed run: its progress).
    ``cluster``: score the batches on a Dask cluster (a scheduler address, or ``local:N`` for
    N local worker processes; see :mod:`~dermx_bench.harness.cluster`); the files are the same.
    """
    from dermx_bench.core.numeric import flush_denormal

    o = opts or ScoreOptions()
    out = Path(out_dir)
    precheck_out(out, resume)
    if cluster is not None:
        from dermx_bench.harness.cluster import parse_cluster

        parse_cluster(cluster)
    plan = plan_run(submission, store_path, images_dir, o)
    existed, new = out.exists(), not (out / STATE_FILE).exists()
    state = prepare_out(out, plan.fingerprint, resume, now)
    try:
        with flush_denormal():
            return _execute(plan, o, out, state, on_batch, on_plan, on_estimate, cluster)
    except DermxError as exc:  # a kill (or Ctrl-C) keeps the run for --resume; a failure says what to do
        if new:  # SlowRunError included: the refused run leaves the folder as it was
            discard_new_run(out, existed)
            exc.add_note(f"nothing of this run was kept in {out}; fix the cause and run it again")
        else:
            exc.add_note(f"the unfinished run stays in {out}: fix the cause and --resume it, or remove the "
                         "folder to start over")
        raise


def _execute(
    plan: Plan, o: ScoreOptions, out: Path, state: RunState, on_batch: Callable[[int], None] | None,
    on_plan: Callable[[int, int], None] | None, on_estimate: Callable[[CostEstimate], None] | None = None,
    cluster: str | None = None,
) -> RunSummary:
    import shutil

    from dermx_bench.harness.explainers import get_explainer

    if state.get("status") == "complete" and (out / "summary.json").exists():
        shutil.rmtree(out / PARTIAL, ignore_errors=True)  # a kill during the final clean-up left it
        if on_plan:
            on_plan(len(plan.refs), len(plan.refs))
        return RunSummary.model_validate_json((out / "summary.json").read_bytes())
    open_parts(out, state)
    part = out / PARTIAL
    names = [r.image for r in plan.refs]
    batches = [names[k : k + o.batch_size] for k in range(0, len(names), o.batch_size)]
    done = int(state.get("batches_done", 0))
    if on_plan:
        on_plan(len(names), sum(len(b) for b in batches[:done]))
    method = get_explainer(o.method)
    passes = method.passes_per_image(method.resolve(o.method_options), plan.loaded.feature_shape[0])
    parallel = 1
    if cluster is None:
        results: Iterator[BatchResult] = _local_results(plan, o, batches, done)
    else:
        from dermx_bench.harness.cluster import cluster_results

        results, parallel = cluster_results(cluster, plan, o, batches, done)
    for b, result in enumerate(results, start=done):
        if b == done:  # cost before work: the first batch of this call, timed (spread over the workers)
            estimate = estimate_cost(o.method_label(), plan.device, len(batches[b]), result.seconds / parallel,
                                     sum(len(bb) for bb in batches[b + 1:]), passes)
            if on_estimate:
                on_estimate(estimate)
            check_cost(estimate, o.allow_slow)
        for item in result.overlays:
            draw_overlay(plan, out, method.name, item)
        blob, map_rows = encode_maps(result.maps, int(state.get("bytes", {}).get(MAPS_PART_BIN, 0)))
        sizes = {
            "scores.part.csv": append(part / "scores.part.csv", csv_lines(result.score_rows)),
            "predictions.part.csv": append(part / "predictions.part.csv", csv_lines(result.pred_rows)),
            MAPS_PART_BIN: append(part / MAPS_PART_BIN, blob),
            MAPS_PART_CSV: append(part / MAPS_PART_CSV, csv_lines(map_rows)),
        }
        state.update({"batches_done": b + 1, "images_done": sum(len(bb) for bb in batches[: b + 1]),
                      "bytes": sizes, "memory_format": result.layout})
        write_state(out, state)
        if on_batch:
            on_batch(len(batches[b]))
    summary = finalise(out, plan, o, state)
    state["status"] = "complete"
    write_state(out, state)
    shutil.rmtree(part, ignore_errors=True)
    return summary
