"""Timing round trips for the benchmarks: a warmed-up call, timed one round at a time. Not a benchmark itself
(`make bench` runs only bench/*.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Calls made before timing starts: connections, caches and the allocator settle.
WARMUP = 20

#: A case's timer: `measure(n)` returns n round-trip times in seconds.
Measure = Callable[[int], list[float]]


def timer(call: Callable[[], Any]) -> Measure:
    """Warms `call` up, then returns a timer for it."""
    for _ in range(WARMUP):
        call()

    def measure(rounds: int) -> list[float]:
        latencies = []
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)
        return latencies

    return measure
