"""The clocks a control loop can run on. Everything the loop schedules and measures (action due times, request
latency) is read from one clock, so a loop on simulated or ROS time never mixes in the wall clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock (any origin, never going back)."""
        ...


class VirtualClock:
    """Simulated time that moves only when the simulator steps: whole control ticks, counted rather than summed
    so that 225 ticks of 1/15 s are exactly 15 s."""

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self.ticks = 0

    def now(self) -> float:
        return round(self.ticks * self.tick_s, 9)

    def step(self) -> None:
        self.ticks += 1

    def reset(self) -> None:
        self.ticks = 0


class MonotonicClock:
    """The wall clock of a live robot without ROS time."""

    def now(self) -> float:
        return time.monotonic()
