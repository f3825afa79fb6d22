"""docker/'s nginx balancer and policy-server replicas as local processes on loopback, for tests.

`render` fills docker/nginx/nginx.conf.template the way the official nginx image's entry point does (envsubst of
the names it is given), except that the `server ${POSITRONIC_POLICY_SERVER}` line is written once per replica: in
compose one service name resolves to every replica, here each replica is its own port. Nothing else of the shipped
file changes, so the test runs the configuration docker ships.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from processes import group_members, wait_gone

TEMPLATE = Path(__file__).resolve().parents[2] / "docker" / "nginx" / "nginx.conf.template"
SERVER_NAME = "POSITRONIC_POLICY_SERVER"
#: A bound for starts and stops that take a second unless something is broken.
STUCK_S = 60.0


def nginx_binary() -> str | None:
    """Debian's nginx (`make test` installs it); it lives in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render(template: str, servers: Sequence[str], values: dict[str, str]) -> str:
    """The template with `values` substituted and its `server ${POSITRONIC_POLICY_SERVER}` line once per server."""
    lines = []
    for line in template.splitlines(keepends=True):
        copies = [line.replace(f"${{{SERVER_NAME}}}", s) for s in servers] if f"${{{SERVER_NAME}}}" in line else [line]
        for copy in copies:
            for name, value in values.items():
                copy = copy.replace(f"${{{name}}}", value)
            lines.append(copy)
    text = "".join(lines)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    assert not left, f"{TEMPLATE.name} has placeholders the test does not fill: {left}"
    return text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def established_connections(port: int) -> int:
    """Open TCP connections to 127.0.0.1:`port` (from /proc/net/tcp): the sessions a replica holds, plus any HTTP
    request in flight."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state = int(fields[1].rsplit(":", 1)[1], 16), fields[3]
        count += local_port == port and state == "01"  # 01: ESTABLISHED
    return count


def _wait_listening(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + STUCK_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {STUCK_S} s") from None
            time.sleep(0.05)


@dataclass
class Replica:
    process: subprocess.Popen
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def replicas(count: int, args: Sequence[str], log_dir: Path) -> Iterator[list[Replica]]:
    """`count` real `positronic-policy-server` processes with `args`, each on a free port it picks itself."""
    started: list[Replica] = []
    env = {**os.environ}
    env.pop("POSITRONIC_AUTH_TOKEN", None)
    try:
        for i in range(count):
            with (log_dir / f"replica{i}.log").open("w") as log:
                process = subprocess.Popen(
                    [str(Path(sys.executable).parent / "positronic-policy-server"), *args, "--port=0"],
                    stdout=subprocess.PIPE, stderr=log, text=True, env=env, start_new_session=True)
            started.append(Replica(process, 0))
        for replica in started:  # started together, so their imports overlap
            line = replica.process.stdout.readline()  # printed once listening
            match = re.search(r"127\.0\.0\.1:(\d+)/api/v1/models", line)
            assert match, f"a replica did not start: {line!r}; see {log_dir}"
            replica.port = int(match[1])
        yield started
    finally:
        _stop([r.process for r in started])


@contextmanager
def balancer(servers: Sequence[str], state_dir: Path) -> Iterator[tuple[int, Path]]:
    """nginx with the shipped configuration in front of `servers`, in the foreground on a free loopback port;
    yields the port and its access log."""
    nginx = nginx_binary()
    assert nginx is not None, "no nginx binary"
    state_dir.mkdir(parents=True, exist_ok=True)
    access_log = state_dir / "access.log"
    for _attempt in range(3):  # the free port may be taken between choosing it and nginx binding it
        port = free_port()
        config = state_dir / "nginx.conf"
        config.write_text(render(TEMPLATE.read_text(), servers, {
            "POSITRONIC_BALANCER_LISTEN": f"127.0.0.1:{port}", "POSITRONIC_NGINX_STATE": str(state_dir)}))
        with access_log.open("a") as out, (state_dir / "error.log").open("a") as err:
            process = subprocess.Popen([nginx, "-p", str(state_dir), "-c", str(config), "-g", "daemon off;"],
                                       stdout=out, stderr=err, start_new_session=True)
        try:
            _wait_listening(port, process, "nginx")
        except RuntimeError:
            _stop([process])
            if "Address already in use" in (state_dir / "error.log").read_text():
                continue
            raise RuntimeError(f"nginx did not start: {(state_dir / 'error.log').read_text()[-2000:]}") from None
        try:
            yield port, access_log
        finally:
            _stop([process])
        return
    raise RuntimeError(f"nginx found no free port in 3 attempts: {(state_dir / 'error.log').read_text()[-2000:]}")


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    """SIGTERM, then SIGKILL, to each process group; asserts nothing of them is left running."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=STUCK_S / 4)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STUCK_S / 4)
        if process.stdout is not None:
            process.stdout.close()
    # Each was its group's leader (start_new_session): nginx's workers and any server children share its group.
    left = [pid for p in processes for pid in wait_gone(group_members(p.pid), timeout_s=STUCK_S / 4)]
    assert not left, f"processes left running: {left}"
