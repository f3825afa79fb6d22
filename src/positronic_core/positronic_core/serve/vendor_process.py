"""A vendor's own policy server (openpi's `serve_policy.py`, GR00T's `run_gr00t_server.py`) run as our child.

Backends whose models live in another stack (JAX, a vendor venv in a docker image) do not import them: they start
the vendor's server from a command template on a free loopback port and talk to it over its own wire. This module
owns that child: it starts it in a process group of its own (the vendor may be `uv run` -> python -> workers, and
every one of them must go when it goes), waits for it to answer a backend-given readiness probe within a bound,
reports progress while it waits, and stops the whole group. Every process still running is stopped at interpreter
exit too, and `stop_all` lets a command line do it before exit (see cli/policy_server.py). A server killed outright
runs none of that: a watchdog process per vendor (`vendor_watchdog`) stops the group then.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from positronic_core.models.errors import ModelLoadError
from positronic_core.serve.vendor_watchdog import signal_group, stop_group

log = logging.getLogger(__name__)

PORT_PLACEHOLDER = "{port}"
CHECKPOINT_PLACEHOLDER = "{checkpoint_dir}"
#: How often `wait_ready` reports progress; the model pool forwards the latest report at least every 5 s.
PROGRESS_EVERY_S = 2.0
_OUTPUT_TAIL_LINES = 40
_WATCHDOG = Path(__file__).with_name("vendor_watchdog.py")

#: `probe(port)` -> True once the vendor answers on `port`. It may raise while the vendor is still starting.
ReadinessProbe = Callable[[int], bool]


class VendorStartError(ModelLoadError):
    """The vendor server exited before it came up, or did not come up in time; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the vendor binds it a moment later; a lost race fails its start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_template(template: str) -> list[str]:
    """The template split into arguments; ValueError unless it is non-empty and has both placeholders."""
    try:
        args = shlex.split(template)
    except ValueError as e:
        raise ValueError(f"vendor command {template!r} does not parse: {e}") from None
    if not args:
        raise ValueError("the vendor command is empty")
    for placeholder in (PORT_PLACEHOLDER, CHECKPOINT_PLACEHOLDER):
        if not any(placeholder in arg for arg in args):
            raise ValueError(f"vendor command {template!r} lacks the {placeholder} placeholder")
    return args


def render_command(template: str, *, port: int, checkpoint_dir: Path | str) -> list[str]:
    """The argument list with `{port}` and `{checkpoint_dir}` filled in. Other braces are left alone (a vendor flag
    may take JSON), which is why this is a replace and not `str.format`."""
    return [arg.replace(PORT_PLACEHOLDER, str(port)).replace(CHECKPOINT_PLACEHOLDER, str(checkpoint_dir))
            for arg in check_template(template)]


class VendorProcess:
    """One running vendor server. Start it with `VendorProcess.start`; `stop()` ends it and everything it spawned."""

    def __init__(self, args: Sequence[str], *, port: int, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None, name: str = "vendor server",
                 stop_grace_s: float = 10.0) -> None:
        self.args = list(args)
        self.port = port
        self.name = name
        self.stop_grace_s = stop_grace_s
        self._tail: collections.deque[str] = collections.deque(maxlen=_OUTPUT_TAIL_LINES)
        self._stop_lock = threading.Lock()
        try:
            self._popen = subprocess.Popen(
                self.args, cwd=None if cwd is None else str(cwd), env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True)
        except OSError as e:
            where = f" in {cwd}" if cwd is not None else ""
            raise VendorStartError(f"cannot start the {name} `{shlex.join(self.args)}`{where}: {e}") from None
        # The session leader's pid is the process group id of everything the vendor spawns.
        self.pgid = self._popen.pid
        try:
            # Its stdin's write end stays with us alone (Popen closes other fds in children): our exit closes it.
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", str(_WATCHDOG), str(self.pgid), str(stop_grace_s)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            signal_group(self.pgid, signal.SIGKILL)
            self._popen.wait()
            raise VendorStartError(f"cannot start the watchdog of the {name}: {e}") from None
        _RUNNING.add(self)
        self._reader = threading.Thread(target=self._pump_output, name=f"{name}-output", daemon=True)
        self._reader.start()
        log.info("started %s (pid %d, port %d): %s", name, self.pid, port, shlex.join(self.args))

    @classmethod
    def start(cls, template: str, *, checkpoint_dir: Path | str, probe: ReadinessProbe,
              progress: Callable[[str], None], cwd: Path | str | None = None, timeout_s: float = 600.0,
              env: Mapping[str, str] | None = None, name: str = "vendor server", poll_s: float = 0.25,
              stop_grace_s: float = 10.0) -> VendorProcess:
        """Start the vendor on a free port and return it once `probe` answers; `VendorStartError` (with nothing
        left running) if it exits first or `timeout_s` passes."""
        port = free_port()
        args = render_command(template, port=port, checkpoint_dir=checkpoint_dir)
        process = cls(args, port=port, cwd=cwd, env=env, name=name, stop_grace_s=stop_grace_s)
        try:
            process.wait_ready(probe, progress, timeout_s=timeout_s, poll_s=poll_s)
        except BaseException:
            process.stop()
            raise
        return process

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while the vendor runs, else its exit code (negative: killed by that signal)."""
        return self._popen.poll()

    def alive(self) -> bool:
        return self.returncode is None

    def wait_exit(self, timeout_s: float) -> int | None:
        """Its exit code once it has exited, waiting at most `timeout_s`; None if it still runs."""
        try:
            return self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def output_tail(self) -> str:
        """The last lines the vendor wrote (stdout and stderr)."""
        return "\n".join(self._tail)

    def wait_ready(self, probe: ReadinessProbe, progress: Callable[[str], None], *, timeout_s: float,
                   poll_s: float = 0.25, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> None:
        """Return once `probe(port)` is true; `VendorStartError` if the vendor exits first or `timeout_s` passes.

        The caller stops the process on failure (`start` does)."""
        started = clock()
        last_report = None
        last_probe_error: BaseException | None = None
        while True:
            if not self.alive():
                raise VendorStartError(self._exit_message("before it answered"))
            try:
                if probe(self.port):
                    log.info("%s is up on port %d", self.name, self.port)
                    return
            except Exception as e:  # a vendor still starting refuses connections, resets them, times out...
                last_probe_error = e
            now = clock()
            elapsed = now - started
            if elapsed >= timeout_s:
                why = (f" (last probe: {type(last_probe_error).__name__}: {last_probe_error})"
                       if last_probe_error else "")
                raise VendorStartError(f"the {self.name} did not answer on port {self.port} within "
                                       f"{timeout_s:g} s{why}{self._tail_suffix()}")
            if last_report is None or now - last_report >= PROGRESS_EVERY_S:
                progress(f"waiting for the {self.name} (pid {self.pid}, port {self.port}) to come up: "
                         f"{elapsed:.0f} s of {timeout_s:g} s")
                last_report = now
            sleep(poll_s)

    def exit_message(self) -> str:
        """Why the vendor is gone, with the tail of its output (for errors raised after it came up)."""
        return self._exit_message("")

    def stop(self) -> None:
        """End the vendor and everything in its process group: SIGTERM, then SIGKILL after `stop_grace_s`.

        Safe to call from any thread, more than once, and after the vendor has exited by itself."""
        with self._stop_lock:
            _RUNNING.discard(self)
            self._end_watchdog()
            if _group_gone(self.pgid, self._popen):
                return
            log.info("stopping %s (pid %d)", self.name, self.pid)
            if stop_group(self.pgid, self.stop_grace_s, lambda: _group_gone(self.pgid, self._popen)):
                log.warning("%s did not stop within %g s of SIGTERM; killed it", self.name, self.stop_grace_s)
            try:
                self._popen.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %d) survived SIGKILL", self.name, self.pid)

    def __enter__(self) -> VendorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _end_watchdog(self) -> None:
        # Before the group is stopped and reaped, so that the watchdog never signals a reused group id.
        if self._watchdog.poll() is None:
            self._watchdog.kill()
            self._watchdog.wait()
        self._watchdog.stdin.close()

    def _pump_output(self) -> None:
        # The vendor's log goes to our stderr, marked as its: our stdout stays ours (the CLI's "models ... on" line).
        # The tail is kept for error messages.
        stream = self._popen.stdout
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            self._tail.append(line)
            try:
                sys.stderr.write(f"[{self.name}] {line}\n")
            except (OSError, ValueError):  # our stderr closed at shutdown
                pass
        stream.close()

    def _exit_message(self, when: str) -> str:
        self._reader.join(timeout=1.0)  # the last lines it wrote before exiting
        code = self.returncode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return f"the {self.name} {how}{' ' + when if when else ''}{self._tail_suffix()}"

    def _tail_suffix(self) -> str:
        tail = self.output_tail().strip()
        return f"; its output ends with:\n{tail}" if tail else "; it printed nothing"


def _group_gone(pgid: int, leader: subprocess.Popen) -> bool:
    """True once no process of the group runs. The leader is reaped first: a zombie still counts as a member."""
    leader.poll()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """Members that exited but are not yet reaped by their new parent (init) do not run any more."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[VendorProcess] = set()

    def add(self, process: VendorProcess) -> None:
        with self._lock:
            self._processes.add(process)

    def discard(self, process: VendorProcess) -> None:
        with self._lock:
            self._processes.discard(process)

    def snapshot(self) -> list[VendorProcess]:
        with self._lock:
            return list(self._processes)


_RUNNING = _Registry()


def running() -> list[VendorProcess]:
    """Vendor processes started and not yet stopped."""
    return _RUNNING.snapshot()


def stop_all() -> None:
    """Stop every vendor process still running (at exit, or from a signal-driven shutdown)."""
    for process in _RUNNING.snapshot():
        try:
            process.stop()
        except Exception:  # one failure must not leave the others running
            log.exception("stopping %s failed", process.name)


atexit.register(stop_all)
