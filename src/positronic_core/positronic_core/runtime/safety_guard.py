"""The robot as a live arm's control loop sees it: every command limited (`robot.safety`) before it is applied, and
the arm actively held, within the tick it is noticed, when

- the operator asks (`hold("operator")` until `release("operator")`),
- the policy server is lost or a call fails (`server_lost`, until the next episode opens a new session),
- joint states stop arriving (`stale_state`, released by itself once fresh states arrive again),
- the plan runs dry: no action for `stale_after` seconds while a session is open (`stale_actions`, released by the
  next action).

Holding means commanding the measured joint positions (`HoldableRobot.hold`), which replaces whatever trajectory
the controller is still executing: with whole chunks sent ahead, simply sending nothing would let the arm play the
rest of an old chunk. While any hold is active no policy action reaches the arm.

Every hold and release, and every command changed by a limit, goes to the episode's sink as `safety.hold` (the
reason's code while held, 0 when the last hold is released) and `safety.limited` (1 per limited command), so the
recording shows them on its timeline; the same events are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from positronic_core.robot.commands import Action
from positronic_core.robot.joint_chunk import JointChunk
from positronic_core.robot.safety import SafetyLimits
from positronic_core.runtime.clocks import Clock
from positronic_core.runtime.robot import Robot, SampleSink

NS = 1_000_000_000
#: `safety.hold` values: which hold started (0: the arm is released).
HOLD_CODES = {"operator": 1, "server_lost": 2, "stale_state": 3, "stale_actions": 4}

log = logging.getLogger(__name__)


class HoldableRobot(Robot, Protocol):
    def hold(self) -> None:
        """Command the measured joint positions now, replacing any trajectory in progress."""
        ...

    def state_time(self) -> float | None:
        """When the latest joint state was measured, in seconds on the loop's clock; None before the first."""
        ...


class SafetyGuard:
    """A `Robot` for the control loop that limits commands and holds the arm (see the module doc)."""

    def __init__(self, robot: HoldableRobot, limits: SafetyLimits, clock: Clock, tick_s: float,
                 chunked: bool = False) -> None:
        self.robot = robot
        #: The arm executes whole chunks, limited by `limit_chunk`; a tick's action then moves only the gripper, and
        #: limiting its arm command as well would record one clip twice.
        self.chunked = chunked
        self.limits = limits
        self.clock = clock
        self.tick_s = tick_s
        self.sink: SampleSink | None = None
        self.holds: dict[str, str] = {}
        self.limited_count = 0
        self._last_target: np.ndarray | None = None
        self._last_action_at: float | None = None

    # --- the Robot surface: reads pass through, commands are limited -----------------------------------------
    def robot_state(self) -> dict[str, Any] | None:
        return self.robot.robot_state()

    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        return self.robot.render(names)

    def observers(self) -> dict[str, float]:
        return self.robot.observers()

    def privileged_state(self) -> dict[str, np.ndarray] | None:
        return self.robot.privileged_state()

    def apply(self, action: Action) -> None:
        now = self.clock.now()
        self._last_action_at = now
        self.release("stale_actions")
        if self.holds:
            return
        if self.chunked:
            self.robot.apply(action)
            return
        limited = self.limits.limit(action, self._reference_q(), self.tick_s)
        if limited.notes:
            self.limited_count += 1
            log.warning("safety: %s", "; ".join(limited.notes))
            self._emit("safety.limited", 1, now)
        if limited.action is None:
            self.robot.hold()
            return
        command = limited.action.command
        self._last_target = getattr(command, "positions", None)
        self.robot.apply(limited.action)

    def limit_chunk(self, chunk: JointChunk) -> JointChunk | None:
        """A whole chunk's trajectory (for a controller that executes chunks) limited point by point from the
        measured joints; None while the arm is held (the caller sends nothing, the hold stands).

        The first waypoint is given one control tick more than its time to be reached from the measured joints, as
        the per-tick path gives each target a tick: a chunk's first action is due when it was asked for, which has
        passed by the time it arrives."""
        if self.holds:
            return None
        state = self.robot.robot_state()
        measured = None if state is None else np.asarray(state["robot_state.q"], dtype=np.float64)
        positions, notes = self.limits.limit_trajectory(chunk.positions, chunk.times_s + self.tick_s, measured)
        if notes:
            self.limited_count += 1
            log.warning("safety: %s", "; ".join(notes))
            self._emit("safety.limited", 1, self.clock.now())
        self._last_action_at = self.clock.now()
        self.release("stale_actions")
        return JointChunk(chunk.times_s, positions, chunk.grips)

    # --- holds ------------------------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return bool(self.holds)

    def hold(self, reason: str, detail: str = "") -> None:
        """Hold the arm now for `reason` (a key of HOLD_CODES); a reason already holding is not repeated."""
        if reason not in HOLD_CODES:
            raise ValueError(f"unknown hold reason {reason!r}")
        if reason in self.holds:
            return
        self.holds[reason] = detail
        self._last_target = None
        self.robot.hold()
        log.warning("safety: holding the arm (%s%s)", reason, f": {detail}" if detail else "")
        self._emit("safety.hold", HOLD_CODES[reason], self.clock.now())

    def release(self, reason: str) -> None:
        if self.holds.pop(reason, None) is None:
            return
        log.warning("safety: %s hold released%s", reason, "" if self.holds else "; the policy drives the arm")
        remaining = min((HOLD_CODES[r] for r in self.holds), default=0)
        self._emit("safety.hold", remaining, self.clock.now())

    def start_episode(self, sink: SampleSink | None) -> None:
        """A new episode: its sink receives the events, and the holds a new session clears are released."""
        self.sink = sink
        for reason in ("server_lost", "stale_actions"):
            self.release(reason)
        self._last_action_at = None
        self._last_target = None
        for reason in self.holds:  # a hold carried into the episode shows on its timeline from the start
            self._emit("safety.hold", HOLD_CODES[reason], self.clock.now())

    def stop_episode(self) -> None:
        self.sink = None

    def check(self, session_open: bool, failed: bool) -> None:
        """Once per tick, after the loop's tick: hold on a lost session, stale joint states or a dry plan."""
        now = self.clock.now()
        if failed:
            self.hold("server_lost", "the policy call failed or the server went away")
        measured = self.robot.state_time()
        if measured is not None and now - measured > self.limits.stale_after_s:
            self.hold("stale_state", f"last joint state {now - measured:.3f} s old")
        elif measured is not None:
            self.release("stale_state")
        if session_open and self._last_action_at is not None and now - self._last_action_at > \
                self.limits.stale_after_s:
            self.hold("stale_actions", f"no action for {now - self._last_action_at:.3f} s")

    def _reference_q(self) -> np.ndarray | None:
        """Where velocity limits are measured from: the last target sent, else the measured joints."""
        if self._last_target is not None:
            return self._last_target
        state = self.robot.robot_state()
        return None if state is None else np.asarray(state["robot_state.q"], dtype=np.float64)

    def _emit(self, name: str, value: int, now: float) -> None:
        if self.sink is not None:
            self.sink.append(name, value, int(round(now * NS)))
