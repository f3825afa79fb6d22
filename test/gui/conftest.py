"""A virtual X screen for the DearPyGui tests, and a runner for the scenarios that open windows.

One Xvfb serves the whole session; it picks a free display number itself (`-displayfd`), so parallel runs and a
developer's own X servers never collide. Tests that use the `display` fixture get DISPLAY set for their duration only.

A process may open one DearPyGui window in its life (see `positronic_core.runtime.gui.app`), so every scenario that
opens one runs in a child process (`gui_scenarios.py`), which prints its observations as JSON on its last line.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def _die_with_parent() -> None:
    # A test process that crashes (DearPyGui can segfault) never reaches fixture teardown; the kernel then stops
    # Xvfb instead of leaving it running.
    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="session")
def xvfb_server():
    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb xauth, or `make system-deps`); "
                    "the DearPyGui tests need a virtual screen")
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [executable, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 20.0
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], 0.2)
            if ready:
                chunk = pipe.read(16)
                if not chunk:
                    break
                number += chunk
    if not number.strip():
        server.kill()
        server.wait()
        log.seek(0)
        pytest.fail(f"Xvfb did not report a display number: {log.read().decode(errors='replace')[-2000:]}")
    try:
        yield f":{int(number)}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def display(xvfb_server, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb_server)
    return xvfb_server


SCENARIOS = Path(__file__).with_name("gui_scenarios.py")


@pytest.fixture
def gui_run(display):
    """`gui_run(name, *args)` runs a scenario of gui_scenarios.py on the virtual screen and returns its JSON."""

    def run(name: str, *args: str, timeout: float = 240.0) -> dict:
        env = {**os.environ, "DISPLAY": display}
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(SCENARIOS), name, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            pytest.fail(f"scenario {name} exited with {done.returncode} after {time.monotonic() - started:.1f} s\n"
                        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-6000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run
