"""Progress of a conversion on stderr: messages processed out of the total, per bag and pass."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

# progress(bag, phase, done, total): phase is "validating" or "converting"; done == total ends a pass.
Progress = Callable[[Path, str, int, int], None]


class StderrProgress:
    """Rewrites one line in place on a terminal; elsewhere (logs, CI) prints a line every `log_interval_s`."""

    def __init__(self, stream: TextIO | None = None, interval_s: float = 0.2, log_interval_s: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if self.tty else log_interval_s
        self._last_print = float("-inf")
        self._current: tuple[Path, str] | None = None

    def __call__(self, bag: Path, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        pass_started = self._current != (bag, phase)
        finished = done >= total
        if not (pass_started or finished or now - self._last_print >= self.interval_s):
            return
        self._current = (bag, phase)
        self._last_print = now
        percent = 100.0 * done / total if total else 100.0
        line = f"{phase} {bag}: {done}/{total} messages ({percent:.0f}%)"
        if self.tty:
            self.stream.write(f"\r\033[K{line}" + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        if finished:
            self._current = None

    def end_line(self) -> None:
        """Finish a progress line left open by a pass that stopped early, so what is printed next starts afresh."""
        if self.tty and self._current is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._current = None
