"""Process checks for tests that must leave no orphan: is a pid still running, which pids are in a group."""

from __future__ import annotations

import time
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited process its parent has not reaped yet)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """Running (non-zombie) processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def wait_gone(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    """Waits (bounded) for every pid to stop running; returns those still running."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [pid for pid in pids if is_running(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def read_pid_file(path: Path, timeout_s: float = 10.0) -> list[int]:
    """The pids a stand-in wrote to `path`, waiting (bounded) for it to appear."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.02)
    return [int(p) for p in path.read_text().split() if int(p)]
