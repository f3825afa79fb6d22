"""Progress of a long run on the terminal: a live status line on a TTY, a plain line every so often otherwise (a
log file or CI must not fill with carriage returns). The wall clock is injected so tests need no sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

#: Seconds between redraws of the live line, and between plain lines when the output is not a terminal.
TTY_EVERY_S = 0.25
PLAIN_EVERY_S = 10.0


class ProgressLine:
    def __init__(self, out: TextIO, *, interactive: bool | None = None,
                 wall_clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.interactive = _isatty(out) if interactive is None else interactive
        self.every_s = TTY_EVERY_S if self.interactive else PLAIN_EVERY_S
        self._wall = wall_clock
        self._last: float | None = None
        self._shown = False

    def update(self, text: str) -> None:
        """Shows `text` unless the previous update was too recent."""
        now = self._wall()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        if self.interactive:
            self.out.write(f"\r\x1b[K{text}")
            self._shown = True
        else:
            self.out.write(f"{text}\n")
        self.out.flush()

    def clear(self) -> None:
        """Removes the live line so that a permanent line can be printed in its place; restarts the throttle."""
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False
        self._last = None


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
