"""The control loop: one for every runtime (simulated time in-process, ROS time or wall time on a live robot).

Each tick: take a chunk whose reply has arrived, ask for the next chunk when the plan is about to run out, play the
action that is due (or hold the last target), and record. What differs between runtimes is injected:
- the clock (`runtime.clocks`): due times and request latency are read from it, and only from it;
- the executor (`runtime.inference_executor`): inline in simulated time (optionally charging the wall time a call
  took to simulated time), a worker thread on a live robot so the tick never waits for a model;
- the robot (`runtime.robot.Robot`): the simulator, or a ROS adapter over topics;
- what a failed call does: `on_error="raise"` ends the run (a command-line evaluation reports it), `"hold"` keeps
  the arm at its last target until the next episode opens a new session (a live robot must not stop ticking).

Advancing time is the caller's: the simulator steps its `VirtualClock` between ticks; a ROS timer simply fires.
Latency on the loop's clock schedules requests; `inference.latency_ms` records what the call cost on the wall
clock (model plus network), which is what a reviewer compares across runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from positronic_core.geometry import pose12_to_pose7
from positronic_core.policy.base import Policy, PolicySession
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.runtime.chunk_scheduler import ChunkScheduler
from positronic_core.runtime.clocks import Clock
from positronic_core.runtime.inference_executor import Executor, Pending
from positronic_core.runtime.robot import Robot, SampleSink

NS = 1_000_000_000
STATE_KEYS = ("robot_state.q", "robot_state.dq", "robot_state.ee_pose")

log = logging.getLogger(__name__)


@dataclass
class LoopStats:
    ticks: int = 0
    idle_ticks: int = 0
    #: Idle ticks after the first action played: stalls between chunks, the figure chunk scheduling drives to 0.
    idle_ticks_after_first: int = 0
    requests: int = 0
    #: Request to arrival on the loop's clock (what scheduling uses).
    latencies_s: list[float] = field(default_factory=list)
    #: What each call cost on the wall clock (model plus network).
    wall_latencies_s: list[float] = field(default_factory=list)
    dropped_actions: int = 0
    errors: int = 0
    last_error: str = ""
    session_open: bool = False

    @property
    def mean_latency_ms(self) -> float:
        """Mean wall-clock cost of a request, in ms."""
        return 1000.0 * float(np.mean(self.wall_latencies_s)) if self.wall_latencies_s else 0.0

    @property
    def last_latency_s(self) -> float:
        return self.wall_latencies_s[-1] if self.wall_latencies_s else 0.0


@dataclass
class _Request:
    requested_at: float
    pending: Pending[list[Action]]


def _ns(t: float) -> int:
    return int(round(t * NS))


def _close_opened(opening: Pending[PolicySession]) -> None:
    try:
        opening.result().close()
    except Exception:  # it never opened, or is already gone: nothing to close
        pass


class ControlLoop:
    def __init__(self, robot: Robot, policy: Policy, *, clock: Clock, executor: Executor, policy_fps: float = 15.0,
                 cameras: Sequence[str] = (), slack_ticks: int = 1, on_error: Literal["raise", "hold"] = "raise",
                 sink: SampleSink | None = None, record_robot: bool = True,
                 on_chunk: Callable[[list[Action], float], None] | None = None) -> None:
        """`record_robot=False` sends the sink only the inference timeline (`inference.latency_ms`, `.chunk_size`,
        `.chunk`, `.idle`): where the robot's own topics are recorded elsewhere, as under ROS.

        `on_chunk(actions, requested_at)`: for a robot that executes whole chunks (a trajectory controller), called
        with each chunk as it arrives, timed from when it was asked for, and with an empty chunk when the plan is
        dropped (the episode stops or a call fails): the robot then holds the arm. The ticks still `apply` each due
        action."""
        if policy_fps <= 0:
            raise ValueError(f"policy_fps must be positive, got {policy_fps}")
        self.robot = robot
        self.policy = policy
        self.clock = clock
        self.executor = executor
        self.tick_s = 1.0 / policy_fps
        self.cameras = list(cameras)
        self.slack_ticks = slack_ticks
        self.on_error = on_error
        self.sink = sink
        self.record_robot = record_robot
        self.on_chunk = on_chunk
        self.scheduler = ChunkScheduler(self.tick_s, slack_ticks)
        self.stats = LoopStats()
        self.task = ""
        self.last_observers: dict[str, float] = {}
        self._session: PolicySession | None = None
        self._opening: Pending[PolicySession] | None = None
        self._request: _Request | None = None
        self._chunk_shape: tuple[int, ...] | None = None
        self._played_any = False

    @property
    def in_flight(self) -> Pending[list[Action]] | None:
        """The request whose reply has not arrived yet, if any."""
        return None if self._request is None else self._request.pending

    @property
    def running(self) -> bool:
        return self._session is not None or self._opening is not None

    def start_episode(self, task: str, sink: SampleSink | None = None) -> None:
        """Opens a new policy session (one per episode). Inline, a refusal raises here, before anything is
        recorded; on a thread the session arrives at a later tick and the arm holds until it does."""
        self.stop_episode()
        self.task = task
        self.sink = sink
        self.scheduler = ChunkScheduler(self.tick_s, self.slack_ticks)
        self.stats = LoopStats()
        self._chunk_shape = None
        self._played_any = False
        self._opening = self.executor.submit(lambda: self.policy.new_session({"task": task}), delayed=False)
        self._collect_session()

    def stop_episode(self) -> LoopStats:
        """Closes the session; a reply still in flight is dropped. Returns the episode's stats."""
        opening, self._opening = self._opening, None
        session, self._session = self._session, None
        self._request = None
        self.stats.dropped_actions = self.scheduler.dropped
        self.scheduler.clear()
        self.stats.session_open = False
        if session is not None or opening is not None:
            self._hold()
        if session is not None:
            self._submit_quietly(session.close)
        if opening is not None:
            # Calls run in order, so this runs once the session being opened has arrived (or failed to).
            self._submit_quietly(lambda: _close_opened(opening))
        self.sink = None
        return self.stats

    def _submit_quietly(self, call: Callable[[], Any]) -> None:
        try:
            self.executor.submit(call)
        except RuntimeError:  # the executor is already closed: nothing may block shutdown
            pass

    def close(self) -> None:
        """Stops the episode and the executor without waiting for a call in flight."""
        self.stop_episode()
        self.executor.close()

    def tick(self) -> Action | None:
        """One control tick at the clock's current time: the action applied to the robot, or None (held)."""
        now = self.clock.now()
        self._collect_session()
        self._collect_reply(now)
        recording = self.sink is not None and self.record_robot
        state = self.robot.robot_state() if recording else None
        frames = self.robot.render(self.cameras) if recording and self.cameras else None
        if self._session is not None and self._request is None and self.scheduler.should_request(now):
            observation = self.observation(state, frames)
            if observation is not None:
                self.stats.requests += 1
                session = self._session
                self._request = _Request(now, self.executor.submit(lambda: session.infer(observation)))
                self._collect_reply(now)
        action = self.scheduler.pop_due(now)
        if action is None:
            self.stats.idle_ticks += 1
            if self._played_any:
                self.stats.idle_ticks_after_first += 1
        else:
            self._played_any = True
            self.robot.apply(action)
        self.last_observers = self.robot.observers()
        if recording and state is not None:
            self._record(now, state, frames or {}, action)
        elif self.sink is not None and not self.record_robot:
            self.sink.append("inference.idle", 0 if action is not None else 1, _ns(now))
        self.stats.ticks += 1
        return action

    def observation(self, state: Mapping[str, Any] | None = None,
                    frames: Mapping[str, np.ndarray] | None = None) -> dict[str, Any] | None:
        """The policy's observation (see `policy.base`), or None while the robot's sensors are not all in yet.

        The one place an observation is assembled, for every runtime; `state` and `frames` are reused when this
        tick already read them."""
        state = self.robot.robot_state() if state is None else state
        if state is None:
            return None
        if frames is None or any(camera not in frames for camera in self.cameras):
            frames = self.robot.render(self.cameras)
        if frames is None or any(camera not in frames for camera in self.cameras):
            return None
        observation: dict[str, Any] = {**state, **{c: frames[c] for c in self.cameras}, "task": self.task}
        if self.policy.wants_privileged_state:
            privileged = self.robot.privileged_state()
            if privileged is None:
                return None
            observation.update(privileged)
        return observation

    def _collect_session(self) -> None:
        opening = self._opening
        if opening is None or not opening.done():
            return
        self._opening = None
        try:
            self._session = opening.result()
        except Exception as e:
            self._fail(f"cannot open a policy session: {e}", e)
            return
        self.stats.session_open = True

    def _collect_reply(self, now: float) -> None:
        request = self._request
        if request is None or not request.pending.done():
            return
        self._request = None
        try:
            actions = request.pending.result()
        except Exception as e:
            session, self._session = self._session, None
            if session is not None:
                self._submit_quietly(session.close)
            self._fail(f"inference failed: {e}", e)
            return
        latency, wall = request.pending.latency_s, request.pending.wall_s
        self.stats.latencies_s.append(latency)
        self.stats.wall_latencies_s.append(wall)
        self.scheduler.observe_latency(latency)
        self.scheduler.accept(actions, request.requested_at, now)
        if self.on_chunk is not None:
            self.on_chunk(list(actions), request.requested_at)
        if self.sink is not None:
            ts = _ns(request.requested_at)
            self.sink.append("inference.latency_ms", wall * 1000.0, ts)
            self.sink.append("inference.chunk_size", len(actions), ts)
            self._record_chunk(actions, ts)

    def _fail(self, message: str, error: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        self.stats.session_open = False
        self.scheduler.clear()
        self._hold()
        if self.on_error == "raise":
            raise error
        log.error("%s; holding the arm until the next episode", message)

    def _hold(self) -> None:
        if self.on_chunk is not None:
            self.on_chunk([], self.clock.now())

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

    def _record(self, now: float, state: Mapping[str, Any], frames: Mapping[str, np.ndarray],
                action: Action | None) -> None:
        ts = _ns(now)
        sink = self.sink
        for key in STATE_KEYS:
            sink.append(key, np.asarray(state[key], dtype=np.float64), ts)
        sink.append("grip", float(state["grip"]), ts)
        for name, frame in frames.items():
            sink.append(name, frame, ts)
        for name, value in self.last_observers.items():
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
