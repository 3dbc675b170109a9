"""``score --cluster``: the same run folder, byte for byte, from a Dask LocalCluster of two worker
processes; a worker killed mid-run; a killed client resumed with ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dermx_bench.core.errors import InputError
from dermx_bench.harness.cluster import local_cluster, parse_cluster
from tests.harness_util import make_submission, make_world

pytestmark = pytest.mark.timeout(300)  # a stuck cluster fails here, with its stacks, not the whole run

REPO = Path(__file__).resolve().parents[1]
N_IMAGES, BATCH = 8, 1


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small store, photographs, a tiny model and the single-process run to compare with."""
    from dermx_bench.harness.run import ScoreOptions, score_run

    root = tmp_path_factory.mktemp("cluster")
    w: dict[str, Any] = make_world(root, N_IMAGES)
    w["sub"] = make_submission(root / "sub")
    w["opts"] = ScoreOptions(batch_size=BATCH, n_boot=20, n_overlays=2)
    score_run(w["sub"], w["store"], w["photos"], root / "single", w["opts"], now=_NOW)
    w["single"] = _files(root / "single")
    return w


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of 2 single-threaded worker processes (address passed as --cluster)."""
    from distributed import Client

    with local_cluster(2) as lc, Client(lc) as client:
        yield client


_NOW = __import__("datetime").datetime(2026, 1, 2, 3, 4, 5, tzinfo=__import__("datetime").UTC)


def test_parse_cluster() -> None:
    assert parse_cluster("local:2") == ("local", 2)
    assert parse_cluster("tcp://10.0.0.1:8786") == ("address", 0)
    for bad in ("local:0", "local:x", ""):
        with pytest.raises(InputError, match="--cluster"):
            parse_cluster(bad)


def test_cluster_run_is_byte_identical_and_survives_a_killed_worker(
        world: dict[str, Any], cluster: Any, tmp_path: Path) -> None:
    from dermx_bench.harness.run import score_run

    pids = cluster.run(os.getpid)
    killed: list[int] = []

    def kill_one(_: int) -> None:  # after the first batch is written: one worker dies mid-run
        if not killed:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "run"
    score_run(world["sub"], world["store"], world["photos"], out, world["opts"], now=_NOW,
              cluster=cluster.scheduler.address, on_batch=kill_one)
    assert killed
    assert _files(out) == world["single"]
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed[0] not in cluster.run(os.getpid).values()


def test_killed_client_resumes_identically(world: dict[str, Any], cluster: Any, tmp_path: Path) -> None:
    from dermx_bench.harness.run import score_run

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": str(int(_NOW.timestamp()))}
    cmd = [sys.executable, "-m", "dermx_bench.cli", "score", str(world["sub"]), "--store", str(world["store"]),
           "--images", str(world["photos"]), "--out", str(out), "--batch-size", str(BATCH), "--n-boot", "20",
           "--overlays", "2", "--cluster", cluster.scheduler.address]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_file = out / "run_state.json"
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads(state_file.read_text())["batches_done"]
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 1:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= done < N_IMAGES, proc.stderr.read().decode() if proc.stderr else ""
    assert json.loads(state_file.read_text())["status"] == "running"
    score_run(world["sub"], world["store"], world["photos"], out, world["opts"], resume=True,
              cluster=cluster.scheduler.address)
    assert _files(out) == world["single"]
