"""One episode of the control loop in virtual (simulated) time.

Each tick: accept a chunk whose reply has arrived, ask for the next chunk when the plan is about to run out, play
the action that is due (or hold the last target), record, and advance the simulation by one tick. Time is the
simulator's, so a run goes as fast as the CPU allows. With `simulate_timeout`, the wall time an inference took is
charged to simulated time: the reply only becomes usable that much later, and the arm keeps executing the current
plan meanwhile, exactly as it would on a real robot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from positronic_core.geometry import pose12_to_pose7
from positronic_core.policy.base import PolicySession
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.runtime.chunk_scheduler import ChunkScheduler
from positronic_core.runtime.robot import Robot, SampleSink

NS = 1_000_000_000


@dataclass
class EpisodeStats:
    ticks: int = 0
    idle_ticks: int = 0
    #: Idle ticks after the first action played: stalls between chunks, the figure chunk scheduling drives to 0.
    idle_ticks_after_first: int = 0
    requests: int = 0
    latencies_s: list[float] = field(default_factory=list)
    dropped_actions: int = 0
    stacking_history: list[tuple[float, float]] = field(default_factory=list)

    @property
    def mean_latency_ms(self) -> float:
        return 1000.0 * float(np.mean(self.latencies_s)) if self.latencies_s else 0.0


@dataclass
class _Pending:
    requested_at: float
    ready_at: float
    actions: list[Action]


def _tick_ns(t: float) -> int:
    return int(round(t * NS))


class EpisodeLoop:
    def __init__(self, robot: Robot, session: PolicySession, *, task: str, policy_fps: float = 15.0,
                 cameras: Sequence[str] = (), wants_privileged_state: bool = False, simulate_timeout: bool = False,
                 sink: SampleSink | None = None, record_cameras: bool = True) -> None:
        self.robot = robot
        self.session = session
        self.task = task
        self.tick_s = 1.0 / policy_fps
        self.cameras = list(cameras)
        self.wants_privileged_state = wants_privileged_state
        self.simulate_timeout = simulate_timeout
        self.sink = sink
        self.record_cameras = record_cameras
        self.scheduler = ChunkScheduler(self.tick_s)
        self.stats = EpisodeStats()
        self.now = 0.0
        self._pending: _Pending | None = None
        self._played_any = False
        self._chunk_shape: tuple[int, ...] | None = None

    def _observation(self, state: dict[str, Any], frames: dict[str, np.ndarray]) -> dict[str, Any]:
        obs: dict[str, Any] = {**state, **frames, "task": self.task}
        if self.wants_privileged_state:
            obs.update(self.robot.privileged_state())
        return obs

    def tick(self) -> None:
        now = self.now
        if self._pending is not None and self._pending.ready_at <= now + 1e-9:
            self.scheduler.accept(self._pending.actions, self._pending.requested_at, now)
            self._pending = None
        state = self.robot.robot_state()
        frames: dict[str, np.ndarray] | None = None
        if self.sink is not None and self.record_cameras and self.cameras:
            frames = self.robot.render(self.cameras)
        if self._pending is None and self.scheduler.should_request(now):
            if frames is None:
                frames = self.robot.render(self.cameras)
            self._request(now, self._observation(state, frames))
        action = self.scheduler.pop_due(now)
        if action is None:
            self.stats.idle_ticks += 1
            if self._played_any:
                self.stats.idle_ticks_after_first += 1
        else:
            self._played_any = True
            self.robot.apply(action)
        observers = self.robot.observers()
        if "stacking_success" in observers:
            self.stats.stacking_history.append((now, float(observers["stacking_success"])))
        if self.sink is not None:
            self._record(now, state, frames or {}, action, observers)
        self.stats.ticks += 1
        self.robot.advance(self.tick_s)
        self.now = round((self.stats.ticks) * self.tick_s, 9)

    def _request(self, now: float, observation: dict[str, Any]) -> None:
        started = time.perf_counter()
        actions = self.session.infer(observation)
        latency = time.perf_counter() - started
        self.stats.requests += 1
        self.stats.latencies_s.append(latency)
        self.scheduler.observe_latency(latency if self.simulate_timeout else 0.0)
        if self.sink is not None:
            ts = _tick_ns(now)
            self.sink.append("inference.latency_ms", latency * 1000.0, ts)
            self.sink.append("inference.chunk_size", len(actions), ts)
            self._record_chunk(actions, ts)
        if not self.simulate_timeout:
            self.scheduler.accept(actions, now, now)
            return
        # The reply is usable from the first tick at or after its simulated arrival.
        ready_at = math.ceil((now + latency) / self.tick_s - 1e-9) * self.tick_s
        self._pending = _Pending(now, ready_at, actions)

    def _record_chunk(self, actions: list[Action], ts: int) -> None:
        """The returned chunk itself, flattened, at the time it was asked for: `inference.chunk` holds, per action,
        its target (EE pose as x, y, z, qw, qx, qy, qz, or the 7 joints) and target grip.

        A signal keeps one shape, so this needs chunks of one size and one command kind per episode, which every
        policy here returns; a chunk that differs is left out (its size is still in `inference.chunk_size`)."""
        rows = []
        for action in actions:
            command = action.command
            if isinstance(command, CartesianPosition):
                target = pose12_to_pose7(command.pose)
            elif isinstance(command, JointPosition):
                target = command.positions
            else:
                return
            rows.append(np.append(target, action.target_grip))
        if not rows or len({len(r) for r in rows}) != 1:
            return
        chunk = np.concatenate(rows)
        if self._chunk_shape is None:
            self._chunk_shape = chunk.shape
        if chunk.shape == self._chunk_shape:
            self.sink.append("inference.chunk", chunk, ts)

    def _record(self, now: float, state: dict[str, Any], frames: dict[str, np.ndarray], action: Action | None,
                observers: dict[str, float]) -> None:
        ts = _tick_ns(now)
        sink = self.sink
        for key in ("robot_state.q", "robot_state.dq", "robot_state.ee_pose"):
            sink.append(key, np.asarray(state[key], dtype=np.float64), ts)
        sink.append("grip", float(state["grip"]), ts)
        for name, frame in frames.items():
            sink.append(name, frame, ts)
        for name, value in observers.items():
            sink.append(name, float(value), ts)
        sink.append("inference.idle", 0 if action is not None else 1, ts)
        if action is None:
            return
        command = action.command
        if isinstance(command, CartesianPosition):
            sink.append("robot_commands.pose", pose12_to_pose7(command.pose), ts)
        elif isinstance(command, JointPosition):
            sink.append("robot_commands.joints", command.positions, ts)
        elif isinstance(command, JointDelta):
            sink.append("robot_commands.joint_deltas", command.velocities, ts)
        elif isinstance(command, Reset):
            sink.append("robot_commands.reset", 1, ts)
        sink.append("target_grip", float(action.target_grip), ts)

    def finish(self) -> EpisodeStats:
        self.stats.dropped_actions = self.scheduler.dropped
        return self.stats

