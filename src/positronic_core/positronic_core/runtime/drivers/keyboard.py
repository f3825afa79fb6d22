"""The keyboard driver: `s` start, `p` stop and save, `r` reset without saving, `q` quit.

Keys are read from the terminal in cbreak mode (no Enter needed). While an episode runs, the simulation is paced to
the wall clock so that a person can follow it; between episodes the arm holds still.

A key gives no verdict: an episode stopped with `p` (or `q`, or by closing the viewer) is saved as stopped by the
operator (`eval.ended_by`): the simulator's verdict on a run cut short is shown, not counted as its result.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from positronic_core.runtime.sim_runtime import RunningEpisode, SimRuntime
from positronic_core.stacking_task import TASK

HELP = "keys: s = start episode, p = stop and save, r = reset without saving, q = quit"


@contextmanager
def cbreak(stream: TextIO) -> Iterator[None]:
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_key(stream: TextIO, timeout: float) -> str | None:
    ready, _, _ = select.select([stream], [], [], max(0.0, timeout))
    if not ready:
        return None
    data = os.read(stream.fileno(), 1)
    if not data:
        return "q"  # end of input: nobody is left to press keys
    return data.decode(errors="ignore").lower()


class KeyboardDriver:
    """Episodes started and stopped from the keyboard.

    Args:
        task: instruction sent to the policy and recorded as the `task` static.
        show_gui: open the DearPyGui camera viewer.
        realtime: pace running episodes to the wall clock (False runs them as fast as the CPU allows).
    """

    def __init__(self, task: str = TASK, show_gui: bool = False, realtime: bool = True) -> None:
        self.task = task
        self.show_gui = bool(show_gui)
        self.realtime = bool(realtime)

    def preflight(self, stream: TextIO | None = None) -> None:
        """Exit with the reason, before a simulator is built, if there is no terminal (or display) to drive from."""
        stream = stream if stream is not None else sys.stdin
        if not stream.isatty():
            raise SystemExit("the keyboard driver needs an interactive terminal on stdin; use --driver=.timed for "
                             "unattended runs")
        if self.show_gui:
            from positronic_core.runtime.gui import require_display

            require_display("--driver.show_gui")

    def run(self, runtime: SimRuntime, stream: TextIO | None = None) -> None:
        stream = stream if stream is not None else sys.stdin
        self.preflight(stream)
        viewer = None
        if self.show_gui:
            from positronic_core.runtime.gui import open_viewer

            viewer = open_viewer(runtime.cameras)
        episode: RunningEpisode | None = None
        started_wall = 0.0
        try:
            with cbreak(stream):
                # Only now: a key typed at the prompt before cbreak mode would wait in the line buffer for Enter.
                print(HELP, flush=True)
                while True:
                    timeout = 0.05
                    if episode is not None and self.realtime:
                        timeout = max(0.0, started_wall + episode.now - time.monotonic())
                    elif episode is not None:
                        timeout = 0.0
                    key = read_key(stream, timeout)
                    if key == "q":
                        if episode is not None:
                            episode.stop(save=True, stopped_by_operator=True)
                        return
                    if key == "s" and episode is None:
                        episode = runtime.start(self.task)
                        started_wall = time.monotonic()
                        print(f"episode {episode.index} started (seed {episode.seed})", flush=True)
                    elif key == "p" and episode is not None:
                        episode.stop(save=True, stopped_by_operator=True)
                        episode = None
                    elif key == "r":
                        if episode is not None:
                            episode.stop(save=False, stopped_by_operator=True)
                            episode = None
                        print("reset: press s to start the next episode", flush=True)
                    if episode is not None:
                        episode.tick()
                    if viewer is not None and not viewer.update(runtime.robot, episode):
                        if episode is not None:
                            episode.stop(save=True, stopped_by_operator=True)
                        return
        finally:
            if viewer is not None:
                viewer.close()
