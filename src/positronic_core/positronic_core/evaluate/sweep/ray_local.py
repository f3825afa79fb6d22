"""`--ray=local`: a Ray cluster of this machine for one sweep, started with Ray's own `ray start --head` on
127.0.0.1 and stopped by ending its process group (never `ray stop`, which stops every Ray cluster on the machine).

Every port is chosen here rather than left to Ray: a head whose agents pick their own ports makes its raylet wait
for them to write their port files, and on a loaded machine it gives up after a few seconds and aborts.

On Linux, Ray swaps a 127.0.0.1 node address for the machine's outward one and its GCS and raylet listen on every
interface. Its single-machine mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, named for the platforms where it is the
default) keeps the node on loopback and every listener on 127.0.0.1; drivers joining it need the same setting
(`LOOPBACK_ENV`). The head also gets a fresh token (token authentication) in its environment.
"""

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
from pathlib import Path

START_TIMEOUT_S = 180.0
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
STOP_TIMEOUT_S = 10.0


class LocalClusterError(RuntimeError):
    pass


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


class LocalCluster:
    def __init__(self, cpus: int, env: dict[str, str], start_timeout_s: float = START_TIMEOUT_S) -> None:
        ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
        if ray is None:
            raise LocalClusterError("the ray command is missing (pip install 'positronic_core[ray]')")
        self.env = {**env, "RAY_USAGE_STATS_ENABLED": "0", **LOOPBACK_ENV}
        if "RAY_AUTH_MODE" not in self.env:
            self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        self.port = _free_port()
        # Short: Ray's socket paths below it must fit in 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        ports = {"--port": self.port, "--dashboard-port": _free_port(), "--dashboard-agent-listen-port": _free_port(),
                 "--dashboard-agent-grpc-port": _free_port(), "--metrics-export-port": _free_port(),
                 "--runtime-env-agent-port": _free_port(), "--node-manager-port": _free_port(),
                 "--object-manager-port": _free_port()}
        log = (self.temp_dir / "head.log").open("w")
        self.head = subprocess.Popen(
            [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--num-gpus=0",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={self.temp_dir}",
             *(f"{flag}={port}" for flag, port in ports.items())],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + start_timeout_s
        while not _answers(self.port):
            if self.head.poll() is not None or time.monotonic() > deadline:
                tail = (self.temp_dir / "head.log").read_text(errors="replace").strip().splitlines()[-1:]
                self.stop()
                raise LocalClusterError(f"ray start failed: {tail[0] if tail else 'no output'}")
            time.sleep(0.2)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def processes(self) -> list[int]:
        """The head's running processes: Ray's workers are children of its raylet, all in the head's group."""
        return _members(self.head.pid)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.head.pid, sig)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and _group_alive(self.head.pid):
                time.sleep(0.1)
            if not _group_alive(self.head.pid):
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.head.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    return bool(_members(pgid))


def _members(pgid: int) -> list[int]:
    """Running (non-zombie) processes of the group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found
