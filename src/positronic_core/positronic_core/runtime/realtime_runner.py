"""A policy driven by a real clock: inference on a worker thread while the control tick keeps running.

This is the control loop of a live robot (the ROS policy node, and later `positronic-inference real`): every tick
plays the action that is due, or holds; the next chunk is requested in the background early enough to cover the
measured latency; a failed or lost server empties the plan, so the arm holds its last target from the next tick on,
and the session is reopened only at the next episode. The chunk bookkeeping is the same `ChunkScheduler` the
simulated-time loop uses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from positronic_core.policy.base import Policy, PolicySession
from positronic_core.robot.commands import Action
from positronic_core.runtime.chunk_scheduler import ChunkScheduler

log = logging.getLogger(__name__)


@dataclass
class RunnerStats:
    requests: int = 0
    idle_ticks: int = 0
    ticks: int = 0
    errors: int = 0
    last_latency_s: float = 0.0
    last_error: str = ""
    session_open: bool = False


@dataclass
class _InFlight:
    requested_at: float
    future: Future


class RealtimePolicyRunner:
    def __init__(self, policy: Policy, policy_fps: float = 15.0) -> None:
        self.policy = policy
        self.tick_s = 1.0 / policy_fps
        self.scheduler = ChunkScheduler(self.tick_s, slack_ticks=2)
        self.stats = RunnerStats()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")
        self._session: PolicySession | None = None
        self._opening: Future | None = None
        self._in_flight: _InFlight | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._session is not None or self._opening is not None

    def start_episode(self, context: Mapping[str, Any]) -> None:
        """Opens a new policy session in the background (a network handshake must not stall the tick)."""
        self.stop_episode()
        self.scheduler = ChunkScheduler(self.tick_s, slack_ticks=2)
        self.stats = RunnerStats()
        self._opening = self._worker.submit(self.policy.new_session, dict(context))

    def stop_episode(self) -> None:
        with self._lock:
            opening, self._opening = self._opening, None
            session, self._session = self._session, None
            self._in_flight = None
        self.scheduler.clear()
        if opening is not None:
            opening.add_done_callback(lambda f: f.exception() is None and f.result().close())
        if session is not None:
            self._worker.submit(session.close)
        self.stats.session_open = False

    def tick(self, now: float, observation: Callable[[], Mapping[str, Any] | None]) -> Action | None:
        """The action to execute at `now` (seconds on the control clock), or None to hold.

        `observation` is called only when a request is about to go out; it returns None while sensor data is
        still missing (e.g. no camera frame yet since the episode started).
        """
        self.stats.ticks += 1
        self._collect_session()
        self._collect_reply(now)
        session = self._session
        if session is not None and self._in_flight is None and self.scheduler.should_request(now):
            obs = observation()
            if obs is not None:
                self.stats.requests += 1
                started = time.monotonic()
                future = self._worker.submit(self._infer, session, dict(obs), started)
                self._in_flight = _InFlight(now, future)
        action = self.scheduler.pop_due(now)
        if action is None:
            self.stats.idle_ticks += 1
        return action

    @staticmethod
    def _infer(session: PolicySession, obs: dict[str, Any], started: float) -> tuple[list[Action], float]:
        actions = session.infer(obs)
        return actions, time.monotonic() - started

    def _collect_session(self) -> None:
        opening = self._opening
        if opening is None or not opening.done():
            return
        self._opening = None
        try:
            self._session = opening.result()
            self.stats.session_open = True
        except Exception as e:
            self._fail(f"cannot open a policy session: {e}")

    def _collect_reply(self, now: float) -> None:
        in_flight = self._in_flight
        if in_flight is None or not in_flight.future.done():
            return
        self._in_flight = None
        try:
            actions, latency = in_flight.future.result()
        except Exception as e:
            # The server is gone or refused: hold from this tick on; the next episode opens a new session.
            self._fail(f"inference failed: {e}")
            with self._lock:
                session, self._session = self._session, None
            if session is not None:
                self._worker.submit(session.close)
            return
        self.stats.last_latency_s = latency
        self.scheduler.observe_latency(latency)
        self.scheduler.accept(actions, in_flight.requested_at, now)

    def _fail(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.stats.session_open = False
        self.scheduler.clear()
        log.error("%s; holding the arm until the next episode", message)

    def close(self) -> None:
        self.stop_episode()
        self._worker.shutdown(wait=True)
