"""Shared by the bench scripts: cases interleaved in rounds in one process, per-round ratios, peak memory.

Running case A fully and then case B on a shared machine measures the load of the moment
as much as the code (issue 12 saw 1.89x turn into 4.7x). Here every round runs every case
once (the order rotating from round to round), so drifting load hits all cases alike, and
each ratio is taken within a round: its median and its minimum over the rounds are
printed beside the absolute figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence


def interleave(cases: Mapping[str, Callable[[], object]], rounds: int, warmup: bool = True,
               on_round: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, list[float]]:
    """Seconds of each case per round (round r starts at case r mod n); one untimed warm-up run each."""
    names = list(cases)
    if warmup:
        for fn in cases.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        this: dict[str, float] = {}
        for k in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            cases[k]()
            this[k] = time.perf_counter() - t0
            times[k].append(this[k])
        if on_round is not None:
            on_round(r, this)
    return times


def ratio(times: dict[str, list[float]], fast: str, slow: str) -> tuple[float, float]:
    """(median, min) over rounds of ``slow``'s time / ``fast``'s time: how many times faster ``fast`` ran."""
    per_round = [s / f for f, s in zip(times[fast], times[slow], strict=True)]
    return statistics.median(per_round), min(per_round)


def print_ratios(times: dict[str, list[float]], pairs: Sequence[tuple[str, str]], indent: str = "  ") -> None:
    """One line per (fast, slow) pair: the per-round speed ratio's median and minimum."""
    for fast, slow in pairs:
        med, lo = ratio(times, fast, slow)
        print(f"{indent}{fast} vs {slow}: {med:.2f}x faster (median of {len(times[fast])} rounds; min {lo:.2f}x)")


def log_round(r: int, seconds: dict[str, float]) -> None:
    """An ``on_round`` for :func:`interleave`: the round's seconds per case, on stderr."""
    print(f"round {r + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()), file=sys.stderr)


def print_rates(times: dict[str, list[float]], n_items: int, what: str = "images", indent: str = "  ") -> None:
    """One line per case: ``n_items`` per second at its median time over the rounds, and its best time."""
    width = max(len(k) for k in times)
    for k, v in times.items():
        med = statistics.median(v)
        print(f"{indent}{k:<{width}}  {n_items / med:7.3f} {what}/s (median {med:.1f} s per run; best {min(v):.1f} s)")


def rss_mb() -> float:
    """Current resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples the resident set size every 2 ms in a thread; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
