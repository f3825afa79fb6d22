"""A Ray head node on 127.0.0.1 for tests (`evaluate.sweep.ray_local.LocalCluster`: `ray start --head --block` in
its own process group, its own temporary directory and ports, usage stats and the dashboard off), stopped by
killing that group (never `ray stop`, which stops every Ray cluster on the machine), whatever happened in the test."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

from positronic_core.evaluate.sweep.ray_local import LocalCluster

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


@contextlib.contextmanager
def ray_head(cpus: int, env: dict[str, str]) -> Iterator[LocalCluster]:
    """Yields the head once its GCS answers (its `address` is 127.0.0.1:PORT): the sweep's own `LocalCluster`,
    started with this session's token, as a user's `ray start --head` a sweep joins by address."""
    cluster = LocalCluster(cpus, cluster_env(env), start_timeout_s=START_TIMEOUT_S)
    try:
        yield cluster
    finally:
        cluster.stop()


def listening_hosts(pids: list[int]) -> set[str]:
    """The addresses the TCP sockets of `pids` listen on (from /proc, so that no tool is needed)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    hosts = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_host = fields[1].split(":")[0]
                # Each 32-bit word of the address is in host (little-endian) order.
                raw = b"".join(bytes.fromhex(hex_host[i:i + 8])[::-1] for i in range(0, len(hex_host), 8))
                address = ipaddress.ip_address(raw)
                hosts.add(str(getattr(address, "ipv4_mapped", None) or address))
    return hosts
