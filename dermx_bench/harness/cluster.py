"""Scoring a run's batches on a Dask distributed cluster (``score --cluster``).

A thin distribution layer over the run loop of :mod:`dermx_bench.harness.run`: each batch
of images is one Dask task; the client (the ``score`` command) keeps writing the run
folder exactly as a single-process run does, batch by batch in order, so the final files
are the same bytes, a killed client resumes with ``--resume`` and the run state never
runs ahead of the partial files. Results computed early wait on their workers for the
batches before them.

Each worker plans the run once (loads and checks the submission, reads the store and
checks the photographs) and keeps the model for every later task of the same run; its
plan's fingerprint must equal the client's (same software, submission, store,
photographs and options), else the run stops with :class:`RunConflictError`.

**Shared filesystem.** Tasks carry paths, not data: every worker must see the
submission folder, the store and the photographs at the same absolute paths as the
client (a shared or identically mounted filesystem) and have the same ``dermx_bench``
and dependency versions installed. Only the client writes the run folder.

A worker that dies has its tasks re-run elsewhere by the scheduler (its
``allowed-failures``, 3 by default); a task that raises (a model with non-finite
outputs) is not retried and stops the run like a single-process failure.

``ADDRESS`` is a scheduler address (``tcp://host:8786``); ``local:N`` starts a
``LocalCluster`` of N single-threaded worker processes for the run's duration, with no
memory limit: Dask's default limit pauses a worker at 80 % of its share of the machine's
(or the container's) memory, and a paused worker never finishes its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dermx_bench.core.errors import InputError
from dermx_bench.harness.run_state import RunConflictError

if TYPE_CHECKING:
    from dermx_bench.harness.run_plan import Plan, ScoreOptions
    from dermx_bench.harness.scorer import BatchResult, Scorer

_CACHE = "_dermx_bench_scorers"
_LOCAL = "_dermx_bench_local_cluster"


@dataclass(frozen=True)
class Job:
    """What a worker needs to plan the run itself (absolute paths) and the fingerprint it must reach."""

    submission: str
    store: str
    images: str
    opts: ScoreOptions
    fingerprint_json: str


def parse_cluster(spec: str) -> tuple[str, int]:
    """``("local", N)`` for ``local:N``, else ``("address", 0)``; InputError naming ``--cluster``."""
    if spec.startswith("local:"):
        n = spec.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise InputError("--cluster", spec, "expected local:N with N >= 1 worker processes")
        return "local", int(n)
    if not spec.strip() or spec.strip() != spec:
        raise InputError("--cluster", spec, "expected a scheduler address (tcp://host:8786) or local:N")
    return "address", 0


@contextmanager
def cluster_address(spec: str | None) -> Iterator[str | None]:
    """The scheduler address for ``spec`` while the block runs: ``local:N`` starts (and then closes)
    a LocalCluster, an address is passed on, None stays None (no cluster)."""
    if spec is None or parse_cluster(spec)[0] == "address":
        yield spec
        return
    with local_cluster(parse_cluster(spec)[1]) as local:
        yield str(local.scheduler_address)


def local_cluster(n_workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` single-threaded worker processes on this
    machine: no dashboard, no memory limit (never paused, spilled or restarted for memory)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        memory_limit=0)


def _worker_scorer(job: Job) -> Scorer:
    """This worker's scorer for ``job``: planned and loaded on its first task, then kept."""
    import json

    from distributed import get_worker

    from dermx_bench.harness.run_plan import plan_run
    from dermx_bench.harness.scorer import Scorer

    worker = get_worker()
    cache: dict[str, Scorer] = getattr(worker, _CACHE, None) or {}
    setattr(worker, _CACHE, cache)
    if job.fingerprint_json not in cache:
        cache.clear()  # one run's model at a time
        plan = plan_run(job.submission, job.store, job.images, job.opts)
        if json.dumps(plan.fingerprint, sort_keys=True) != job.fingerprint_json:
            client = json.loads(job.fingerprint_json)
            diffs = [k for k in sorted(set(client) | set(plan.fingerprint)) if client.get(k) != plan.fingerprint.get(k)]
            raise RunConflictError(
                f"worker {worker.address} sees a different {', '.join(diffs)} than the client: workers need the "
                "same dermx-bench and the same files at the same paths (a shared filesystem)")
        cache[job.fingerprint_json] = Scorer(plan, job.opts)
    return cache[job.fingerprint_json]


def score_batch(job: Job, names: Sequence[str]) -> BatchResult:
    """The Dask task: one batch scored on a worker (denormals flushed, as in a local run)."""
    from dermx_bench.core.numeric import flush_denormal

    scorer = _worker_scorer(job)
    with flush_denormal():
        return scorer.score_names(names)


def _connect(spec: str) -> Any:
    """A ``distributed.Client`` for ``spec`` (its LocalCluster closed with it)."""
    from distributed import Client

    kind, n = parse_cluster(spec)
    if kind == "local":
        cluster = local_cluster(n)
        client = Client(cluster)
        setattr(client, _LOCAL, cluster)  # noqa: B010 - closed with the client in _close
        return client
    try:
        return Client(spec, timeout="30s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError("--cluster", spec, f"cannot reach the Dask scheduler ({exc})") from None


def _close(client: Any) -> None:
    cluster = getattr(client, _LOCAL, None)
    client.close()
    if cluster is not None:
        cluster.close()


def cluster_results(
    spec: str, plan: Plan, opts: ScoreOptions, batches: Sequence[Sequence[str]], done: int,
) -> tuple[Iterator[BatchResult], int]:
    """The results of ``batches[done:]`` in order, computed on the cluster, and its number of worker threads.

    Every remaining batch is submitted at once; the iterator yields each batch's result
    in batch order as soon as it is computed. Closing the iterator (the run failed or
    was refused) cancels what is left and closes the client.
    """
    import json

    client = _connect(spec)
    try:
        n_threads = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    except BaseException:
        _close(client)
        raise
    job = Job(*plan.sources, opts, json.dumps(plan.fingerprint, sort_keys=True))
    return _stream(client, job, batches, done), n_threads


def _stream(client: Any, job: Job, batches: Sequence[Sequence[str]], done: int) -> Iterator[BatchResult]:
    """Every remaining batch submitted at once, then each result fetched in batch order.

    Fetching in order with ``Future.result`` (not ``as_completed(with_results=True)``, which
    can wait forever on a result lost with a killed worker, dask/distributed#6074 and #7331)
    lets the scheduler recompute what a dead worker held; later results wait on the workers."""
    try:
        futures = [client.submit(score_batch, job, list(batches[b]), pure=False, priority=-b)
                   for b in range(done, len(batches))]
        for fut in futures:
            result: BatchResult = fut.result()
            fut.release()
            yield result
    finally:
        _close(client)
