"""Where a control loop runs policy calls (opening a session, inference), and when their results count as arrived.

- `InlineExecutor` runs the call at once, in the caller's thread: simulated time does not move while a model
  thinks. With `charge_wall_time` as its arrival delay, the result arrives only after as much simulated time as
  the call took on the wall clock, which is what a real robot lives through meanwhile (`--simulate_timeout`).
- `ThreadExecutor` runs calls on a worker thread, so a live robot's control tick never waits for a model; the
  result arrives when the worker finishes, read on the loop's clock.

Either way the loop sees a `Pending` that is `done()` once its result has arrived on the loop's clock, and knows
when it was asked for and when it arrived on that clock; `wall_s` is what the call cost on the wall clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from positronic_core.runtime.clocks import Clock

T = TypeVar("T")
log = logging.getLogger(__name__)


class Pending(Generic[T]):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.submitted_at = clock.now()
        self.arrives_at: float | None = None
        self.wall_s = 0.0
        self._value: T | None = None
        self._error: BaseException | None = None
        self._finished = threading.Event()

    def _complete(self, value: T | None, error: BaseException | None, wall_s: float, arrives_at: float) -> None:
        self._value, self._error, self.wall_s, self.arrives_at = value, error, wall_s, arrives_at
        self._finished.set()

    def done(self) -> bool:
        """True once the result has arrived on the loop's clock."""
        return self._finished.is_set() and self.arrives_at is not None and self.arrives_at <= self._clock.now() + 1e-9

    @property
    def latency_s(self) -> float:
        """From submission to arrival, on the loop's clock."""
        return 0.0 if self.arrives_at is None else max(0.0, self.arrives_at - self.submitted_at)

    def result(self) -> T:
        """The call's value, or its exception raised here. Only valid once `done()`."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the call itself has finished (not until its simulated arrival); for shutdown paths."""
        return self._finished.wait(timeout)


class Executor(Protocol):
    def submit(self, call: Callable[[], T], *, delayed: bool = True) -> Pending[T]:
        """Runs `call`; `delayed=False` exempts it from a simulated arrival delay (opening a session happens
        before the episode's time starts)."""
        ...

    def close(self) -> None: ...


def _run(call: Callable[[], T]) -> tuple[T | None, BaseException | None, float]:
    started = time.perf_counter()
    try:
        value, error = call(), None
    except Exception as e:
        value, error = None, e
    return value, error, time.perf_counter() - started


def no_delay(wall_s: float) -> float:
    return 0.0


def charge_wall_time(wall_s: float) -> float:
    return wall_s


class InlineExecutor:
    """`arrival_delay` maps what a call cost on the wall clock to how much later its result arrives on the loop's
    clock: `no_delay`, `charge_wall_time`, or a fixed latency in tests."""

    def __init__(self, clock: Clock, arrival_delay: Callable[[float], float] = no_delay) -> None:
        self.clock = clock
        self.arrival_delay = arrival_delay

    def submit(self, call: Callable[[], T], *, delayed: bool = True) -> Pending[T]:
        pending: Pending[T] = Pending(self.clock)
        value, error, wall_s = _run(call)
        delay = self.arrival_delay(wall_s) if delayed else 0.0
        pending._complete(value, error, wall_s, pending.submitted_at + delay)
        return pending

    def close(self) -> None:
        pass


class ThreadExecutor:
    """One daemon worker, calls in submission order. `close()` never waits for a call in flight (a model or a
    server may take minutes to answer); the worker ends after it, and being a daemon it cannot hold up exit."""

    _STOP = object()

    def __init__(self, clock: Clock, name: str = "policy") -> None:
        self.clock = clock
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], T], *, delayed: bool = True) -> Pending[T]:
        if self._closed:
            raise RuntimeError("executor is closed")
        pending: Pending[T] = Pending(self.clock)
        self._queue.put((call, pending))
        return pending

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            call, pending = item
            value, error, wall_s = _run(call)
            pending._complete(value, error, wall_s, self.clock.now())

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(self._STOP)
