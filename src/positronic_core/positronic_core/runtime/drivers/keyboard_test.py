"""The keyboard driver as an operator uses it: `positronic-inference sim --driver=.keyboard` on a pseudo-terminal,
keys typed one at a time (s, p, s, r, q), and what `p` records (no verdict); and its refusal to run without a
terminal."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset
from positronic_core.runtime.drivers.keyboard import KeyboardDriver

INFERENCE = Path(sys.executable).with_name("positronic-inference")
SMALL_RUN = ["sim", "--driver=.keyboard", "--camera_width=160", "--camera_height=120"]

needs_cli = pytest.mark.skipif(not INFERENCE.exists(), reason=f"{INFERENCE} is not installed (pip install -e)")


class Terminal:
    """A child process whose stdin, stdout and stderr are one pseudo-terminal that this test types into."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                        close_fds=True)
        os.close(slave)
        self.output = ""
        self._cursor = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child has exited and closed its side
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Wait for `pattern` in the output after the previous match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        alive = True
        while True:
            match = regex.search(self.output, self._cursor)
            if match:
                self._cursor = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not alive:
                raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output[-4000:]}")
            alive = self._read(min(remaining, 0.2))

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def wait(self, timeout: float = 60.0) -> int:
        """Read until the child closes the terminal, then return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.2):
            pass
        return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@needs_cli
def test_start_save_start_reset_quit_on_a_terminal(tmp_path):
    terminal = Terminal([str(INFERENCE), *SMALL_RUN, f"--output_dir={tmp_path}"])
    try:
        terminal.expect(r"keys: s = start episode, p = stop and save, r = reset without saving, q = quit", 120)
        terminal.press("s")
        terminal.expect(r"episode 0 started \(seed 0\)")
        time.sleep(1.5)  # paced to the wall clock, after about a second spent creating the renderer
        terminal.press("p")
        # `p` gives no verdict: the simulator's is shown as the automatic one, and not counted.
        saved = terminal.expect(r"episode 0 seed=0: no verdict \(stopped by operator; auto: [\w/]+\)[^\n]* -> (\S+)")
        terminal.press("s")
        terminal.expect(r"episode 1 started \(seed 1\)")
        time.sleep(0.5)
        terminal.press("r")
        terminal.expect(r"episode 1 seed=1: [^\n]*\(not saved\)")
        terminal.expect(r"reset: press s to start the next episode")
        terminal.press("q")
        assert terminal.wait() == 0, terminal.output[-4000:]
    finally:
        terminal.close()
    assert "2 episodes, 1 recorded; 1 stopped by the operator without a verdict" in terminal.output
    episodes = layout.episode_dirs(tmp_path)
    assert [path.resolve() for _, path in episodes] == [Path(saved.group(1)).resolve()], \
        "the reset episode left a directory behind"
    [episode] = Dataset(tmp_path)
    # How many ticks ran depends on the machine's load (the first one also creates the renderer), but some did.
    assert episode.static["simulation.seed"] == 0 and "robot_state.q" in episode.signal_names
    assert episode.static["eval.ended_by"] == "operator" and "eval.outcome" not in episode.static
    assert {"image.wrist", "image.exterior", "image.agent_view"} <= set(episode.video_names)


@needs_cli
def test_without_a_terminal_the_cli_refuses(tmp_path):
    done = subprocess.run([str(INFERENCE), *SMALL_RUN, f"--output_dir={tmp_path}"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert "the keyboard driver needs an interactive terminal on stdin" in done.stderr
    assert "--driver=.timed" in done.stderr
    assert layout.episode_dirs(tmp_path) == []


def test_without_a_terminal_the_driver_refuses_before_touching_the_runtime():
    with pytest.raises(SystemExit, match="needs an interactive terminal"):
        KeyboardDriver().run(runtime=None, stream=io.StringIO("spq"))
