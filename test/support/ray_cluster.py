"""A Ray head node on 127.0.0.1 for tests: `ray start --head --block` in its own process group, with its own
temporary directory and free ports, usage stats and the dashboard off. Stopped by killing that group (never
`ray stop`, which stops every Ray cluster on the machine), whatever happened in the test."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from processes import group_members, wait_gone

RAY = Path(sys.executable).parent / "ray"
_TOKEN = secrets.token_hex(32)
START_TIMEOUT_S = 120.0


def ray_missing() -> str:
    """Why Ray cannot run here ("" if it can)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'positronic_core[ray]')"
    if not RAY.exists():
        return f"the ray command line is missing beside {sys.executable}"
    return ""


def cluster_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for the head and its drivers: usage stats off, and one token for this test session (in the
    environment only, never in ~/.ray)."""
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": _TOKEN}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def ray_head(cpus: int, env: dict[str, str]) -> Iterator[str]:
    """Yields the head's address (127.0.0.1:PORT) once its GCS answers."""
    port = _free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    log = (temp_dir / "head.log").open("w")
    env = cluster_env(env)
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
         f"--dashboard-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
         f"--temp-dir={temp_dir}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed or timed out:\n{(temp_dir / 'head.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        members = group_members(head.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        if wait_gone(members, timeout_s=10.0):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, signal.SIGKILL)
            wait_gone(members, timeout_s=10.0)
        head.wait(timeout=10)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
