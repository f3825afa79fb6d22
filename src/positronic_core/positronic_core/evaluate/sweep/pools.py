"""Where tasks run: a local process pool (the standard library's) or a Ray cluster. Both take tasks one at a time
and hand back what finished; the runner keeps at most `workers` tasks in flight, so stopping early wastes little.

A task whose worker process dies (killed, out of memory) is run once more. Ray does that itself (`max_retries`).
The standard library's pool cannot lose one worker alone: when one dies it stops them all and fails every task it
held, so each of those is run once more on a fresh pool (the task that was only standing beside the dead one
spends its retry too). A task lost a second time is reported as failed.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import positronic_core
from positronic_core.evaluate.sweep.episode_task import run_task
from positronic_core.evaluate.sweep.plan import SweepSpec, Task, TaskResult
from positronic_core.evaluate.sweep.ray_local import LOOPBACK_ENV, LocalCluster, LocalClusterError

RETRIES = 1


@dataclass(frozen=True)
class Finished:
    task: Task
    result: TaskResult | None  # None: lost (`lost` says why)
    lost: str = ""


class TaskPool(Protocol):
    workers: int

    def submit(self, task: Task) -> None: ...

    def wait(self) -> list[Finished]: ...

    def in_flight(self) -> int: ...

    def close(self) -> None: ...


class PoolError(RuntimeError):
    """The pool cannot be set up (a Ray address that answers nothing, Ray missing)."""


class LocalPool:
    def __init__(self, spec: SweepSpec, workers: int) -> None:
        self.spec = spec
        self.workers = workers
        # Fresh interpreters rather than forks: a worker renders with EGL and talks WebSockets, neither of which
        # survives a fork of a process that holds threads.
        self._context = multiprocessing.get_context("spawn")
        self._executor = self._new_executor()
        self._running: dict[futures.Future, Task] = {}
        self._retries: dict[Task, int] = {}

    def _new_executor(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)

    def submit(self, task: Task) -> None:
        self._running[self._executor.submit(run_task, self.spec, task)] = task

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self) -> list[Finished]:
        done, _ = futures.wait(list(self._running), return_when=futures.FIRST_COMPLETED)
        finished, lost = [], []
        for future in done:
            task = self._running.pop(future)
            outcome = _outcome(future, task)
            (lost if outcome is None else finished).append(outcome or task)
        if lost:
            self._executor.shutdown(wait=True, cancel_futures=True)
            for future, task in self._running.items():
                outcome = _outcome(future, task) if future.done() and not future.cancelled() else None
                (lost if outcome is None else finished).append(outcome or task)
            self._running.clear()
            self._executor = self._new_executor()
            for task in lost:
                if self._retries.get(task, 0) < RETRIES:
                    self._retries[task] = self._retries.get(task, 0) + 1
                    self.submit(task)
                else:
                    finished.append(Finished(task, None, "its worker process died on every attempt"))
        return finished

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _outcome(future: futures.Future, task: Task) -> Finished | None:
    """The finished future's outcome; None when its worker died."""
    try:
        return Finished(task, future.result())
    except BrokenProcessPool:
        return None
    except Exception as exc:  # noqa: BLE001 - any failure inside a task is that task's error, named
        return Finished(task, TaskResult(task, error=f"{type(exc).__name__}: {exc}"))


class RayPool:
    """Tasks as Ray tasks of one CPU each. `address`: "local" starts a cluster of `workers` CPUs on 127.0.0.1 for
    this sweep (stopped at the end), "auto" joins the cluster this machine belongs to, HOST:PORT joins that one.
    The cluster's workers must import the same positronic_core (install it on every node); a cluster with token
    authentication is joined as any Ray driver joins it (RAY_AUTH_MODE=token and RAY_AUTH_TOKEN)."""

    def __init__(self, spec: SweepSpec, address: str, workers: int | None) -> None:
        # Ray reports usage to its maintainers unless told not to; nothing here may reach the internet.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address == "local":
            # The local cluster's workers import the positronic_core this command runs, wherever it came from.
            package_root = str(Path(positronic_core.__file__).resolve().parents[1])
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self._cluster = None
        if address == "local":
            try:
                self._cluster = LocalCluster(workers or os.cpu_count() or 1, dict(os.environ))
            except LocalClusterError as exc:
                raise PoolError(f"--ray=local: {exc}") from None
            # This process joins with the cluster's token; set before Ray is imported, which reads it once.
            os.environ.update({k: v for k, v in self._cluster.env.items() if k.startswith("RAY_AUTH")})
            address = self._cluster.address
        loopback = address.rpartition(":")[0] in ("127.0.0.1", "localhost")
        if loopback:
            # Read once, when Ray is imported: this driver's own listeners stay on loopback too.
            os.environ.update(LOOPBACK_ENV)
        try:
            import ray
        except ImportError:
            self._stop_cluster()
            raise PoolError("--ray needs Ray: pip install 'positronic_core[ray]' (or pip install ray)") from None
        self._ray = ray
        self.spec = spec
        if address != "auto":
            _check_reachable(address)
        # A driver advertises its own address to the cluster; on a loopback cluster that must be loopback too.
        local_ip = {"_node_ip_address": "127.0.0.1"} if loopback else {}
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False, **local_ip)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self._stop_cluster()
            raise PoolError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=RETRIES)(run_task)
        self._spec_ref = ray.put(spec)
        self._running: dict[Any, Task] = {}

    def submit(self, task: Task) -> None:
        self._running[self._remote.remote(self._spec_ref, task)] = task

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self) -> list[Finished]:
        ready, _ = self._ray.wait(list(self._running), num_returns=1)
        finished = []
        for ref in ready:
            task = self._running.pop(ref)
            try:
                finished.append(Finished(task, self._ray.get(ref)))
            except (self._ray.exceptions.WorkerCrashedError, self._ray.exceptions.NodeDiedError,
                    self._ray.exceptions.OwnerDiedError) as exc:
                finished.append(Finished(task, None, f"its worker died on every attempt ({type(exc).__name__})"))
            except self._ray.exceptions.RayTaskError as exc:
                finished.append(Finished(task, TaskResult(task, error=_first_line(exc.cause or exc))))
        return finished

    def close(self) -> None:
        for ref in self._running:
            self._ray.cancel(ref, force=True)
        self._running.clear()
        self._ray.shutdown()
        self._stop_cluster()

    def _stop_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT that answers: ray.init would otherwise retry a dead address for a minute."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise PoolError(f"--ray={address}: expected local, auto or HOST:PORT of a Ray cluster's head")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise PoolError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
