"""A Ray head node on 127.0.0.1 for tests (`evaluate.sweep.ray_local.LocalCluster`: `ray start --head --block` in
its own process group, its own temporary directory and ports, usage stats and the dashboard off), stopped by
killing that group (never `ray stop`, which stops every Ray cluster on the machine), whatever happened in the test."""

from __future__ import annotations

import contextlib
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
def ray_head(cpus: int, env: dict[str, str]) -> Iterator[str]:
    """Yields the head's address (127.0.0.1:PORT) once its GCS answers: the sweep's own `LocalCluster`, started with
    this session's token, as a user's `ray start --head` a sweep joins by address."""
    cluster = LocalCluster(cpus, cluster_env(env), start_timeout_s=START_TIMEOUT_S)
    try:
        yield cluster.address
    finally:
        cluster.stop()
