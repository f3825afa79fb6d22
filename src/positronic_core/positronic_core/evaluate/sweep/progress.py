"""The sweep's progress bar on stderr: episodes done of the plan, running, failed, elapsed and an ETA.

The ETA assumes the episodes still to run cost what this run's finished ones cost on average, with the same
number of workers; episodes found already recorded (a resumed sweep) are not counted as work done now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from positronic_core.runtime.progress import ProgressLine

BAR_WIDTH = 24


def clock_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def eta_s(done_now: int, remaining: int, elapsed_s: float) -> float | None:
    """Seconds left at this run's pace; None before the first episode of this run finished."""
    if done_now <= 0:
        return None
    return elapsed_s / done_now * remaining


def bar_text(done: int, total: int, running: int, failed: int, elapsed_s: float, eta: float | None) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    parts = [f"[{bar}] {done}/{total} episodes", f"{running} running"]
    if failed:
        parts.append(f"{failed} failed")
    parts.append(f"elapsed {clock_text(elapsed_s)}")
    parts.append(f"ETA {clock_text(eta)}" if eta is not None else "ETA --")
    return "  ".join(parts)


class SweepProgress:
    def __init__(self, out: TextIO, total: int, already_done: int, *,
                 wall_clock: Callable[[], float] = time.monotonic, interactive: bool | None = None) -> None:
        self.line = ProgressLine(out, interactive=interactive, wall_clock=wall_clock)
        self.out = out
        self.total = total
        self.already_done = already_done
        self.done_now = 0
        self.failed = 0
        self._wall = wall_clock
        self._started = wall_clock()

    def text(self, running: int) -> str:
        elapsed = self._wall() - self._started
        done = self.already_done + self.done_now
        remaining = max(0, self.total - done - self.failed)
        return bar_text(done, self.total, running, self.failed, elapsed, eta_s(self.done_now, remaining, elapsed))

    def finished(self, running: int, failed: bool = False) -> None:
        if failed:
            self.failed += 1
        else:
            self.done_now += 1
        self.line.clear()  # every finished episode redraws at once
        self.line.update(self.text(running))

    def note(self, message: str) -> None:
        """A permanent line above the bar."""
        self.line.clear()
        print(message, file=self.out, flush=True)

    def shrink(self, total: int) -> None:
        """The plan got shorter (the stopping rule decided)."""
        self.total = total

    def end(self) -> None:
        """Leaves the bar as it last read (on a terminal; elsewhere every finished episode printed its line)."""
        if self.line.interactive:
            self.line.clear()
            self.line.update(self.text(0))
            self.out.write("\n")
            self.out.flush()
