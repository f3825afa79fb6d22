"""Stops a vendor server's process group once the server that started it is gone, however it went.

`VendorProcess` stops its vendor on every exit it sees (stop, SIGTERM, SIGINT, interpreter exit), but a server that
is SIGKILLed (the OOM killer, `docker kill`, a second Ctrl-C of a supervisor) runs none of it, and the vendor would
keep its GPU memory and its port. The kernel's parent-death signal does not fit: it fires when the *thread* that
started the child exits, and vendors are started from a model loader thread. So each vendor gets this watchdog, in a
session of its own, reading its stdin from a pipe whose write end only the server holds. The server's exit, of any
kind, closes that end; the watchdog reads end-of-file and stops the group: SIGTERM, then SIGKILL after the grace.
The server ends the watchdog first when it stops the vendor itself, and the watchdog leaves by itself once the group
is gone (so that it never signals a group id the system has handed out again).

Run as a script with `python -I` (stdlib only: it must not depend on the server's import path). `VendorProcess`
stops a group with the same `stop_group`.

    vendor_watchdog.py PGID GRACE_S
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Callable

#: How often the watchdog checks that the group still exists while the server lives.
POLL_S = 1.0


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """`sig` to every process of the group; nothing if it is gone (or not ours to signal)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)  # PermissionError too means that the group exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def stop_group(pgid: int, grace_s: float, gone: Callable[[], bool] | None = None) -> bool:
    """SIGTERM the group, then SIGKILL it if `gone()` (default: no process of the group left) is still false after
    `grace_s`. True if it had to be killed."""
    gone = gone or (lambda: not group_alive(pgid))
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while not gone():
        if time.monotonic() >= deadline:
            signal_group(pgid, signal.SIGKILL)
            return True
        time.sleep(0.05)
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: vendor_watchdog.py PGID GRACE_S", file=sys.stderr)
        return 2
    pgid, grace_s = int(argv[1]), float(argv[2])
    # The server's Ctrl-C reaches its whole foreground group, not this session; ignore stray ones all the same.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin = sys.stdin.fileno()
    while group_alive(pgid):
        readable, _, _ = select.select([stdin], [], [], POLL_S)
        if readable and not os.read(stdin, 1):  # nothing is ever written: only the end-of-file counts
            stop_group(pgid, grace_s)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
