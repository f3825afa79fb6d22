"""The control loop on a fake clock: orders and counts, never wall-clock durations."""

import threading

import numpy as np
import pytest

from positronic_core.robot.commands import Action, JointPosition
from positronic_core.runtime.control_loop import ControlLoop
from positronic_core.runtime.inference_executor import InlineExecutor, ThreadExecutor
from positronic_core.wire.client import InferenceError

FPS = 15.0
TICK = 1 / FPS


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t


class FakeRobot:
    def __init__(self, ready=True):
        self.ready = ready
        self.applied = []

    def apply(self, action):
        self.applied.append(action)

    def robot_state(self):
        if not self.ready:
            return None
        return {"robot_state.q": np.zeros(7), "robot_state.dq": np.zeros(7),
                "robot_state.ee_pose": np.array([0, 0, 0, 1, 0, 0, 0.0]), "grip": 0.0}

    def render(self, names=None):
        return {name: np.zeros((4, 4, 3), np.uint8) for name in (names or [])} if self.ready else {}

    def observers(self):
        return {"stacking_success": 0.0}

    def privileged_state(self):
        return None


class ChunkPolicy:
    """Chunks of `size` joint targets a tick apart; target k of request r is 1000 r + k. `gate` (an Event) blocks
    every call until set; `fail_on` makes that request number raise."""

    wants_privileged_state = False
    meta = {"type": "test"}

    def __init__(self, size=30, gate=None, open_gate=None, fail_on=None):
        self.size, self.gate, self.open_gate, self.fail_on = size, gate, open_gate, fail_on
        self.sessions = self.requests = 0
        self.observations = []

    def new_session(self, context):
        if self.open_gate is not None:
            self.open_gate.wait(5)
        self.sessions += 1
        return self

    def infer(self, observation):
        self.requests += 1
        self.observations.append(observation)
        if self.gate is not None:
            self.gate.wait(5)
        if self.requests == self.fail_on:
            raise InferenceError("server lost")
        base = 1000.0 * self.requests
        return [Action(JointPosition(np.full(7, base + k)), 0.0, k * TICK) for k in range(self.size)]

    def close(self):
        pass


class ListSink:
    def __init__(self):
        self.samples = {}

    def append(self, name, value, ts_ns):
        self.samples.setdefault(name, []).append((ts_ns, value))

    def set_static(self, key, value):
        pass


def virtual_loop(policy, latency_s, robot=None, sink=None, on_error="raise"):
    clock = FakeClock()
    loop = ControlLoop(robot or FakeRobot(), policy, clock=clock,
                       executor=InlineExecutor(clock, lambda wall_s: latency_s), policy_fps=FPS,
                       cameras=["image.wrist"], sink=sink, on_error=on_error)
    return loop, clock


def run_ticks(loop, clock, ticks):
    played = []
    for i in range(ticks):
        clock.t = round(i * TICK, 9)
        played.append(loop.tick())
    return played


def target(action):
    return None if action is None else float(action.command.positions[0])


def test_a_300_ms_model_with_30_action_chunks_idles_only_before_its_first_chunk():
    policy = ChunkPolicy(size=30)
    loop, clock = virtual_loop(policy, latency_s=0.3)
    loop.start_episode("stack")
    played = [target(a) for a in run_ticks(loop, clock, 90)]
    # The first reply arrives 0.3 s (4.5 ticks) after tick 0: ticks 0-4 hold.
    assert played[:5] == [None] * 5
    assert loop.stats.idle_ticks == 5 and loop.stats.idle_ticks_after_first == 0
    # 30 actions, 5 of them stale on arrival: the next request goes out 0.3 s + a tick before the plan ends.
    assert loop.stats.requests == 4 and loop.stats.latencies_s == pytest.approx([0.3] * 4)
    # Each chunk replaces the unplayed tail of the one before, so targets always move forward in time.
    first_chunk = [p for p in played if p is not None and p < 2000]
    assert first_chunk[0] == 1005.0 and first_chunk == sorted(first_chunk)
    assert [p // 1000 for p in played[5:]] == sorted(p // 1000 for p in played[5:])


def test_without_latency_a_reply_is_played_on_the_tick_it_was_asked_for():
    policy = ChunkPolicy(size=10)
    loop, clock = virtual_loop(policy, latency_s=0.0)
    loop.start_episode("stack")
    played = [target(a) for a in run_ticks(loop, clock, 20)]
    # The next request goes out a tick (the slack) before the plan ends, and its chunk replaces the last action.
    assert played[:9] == [1000.0 + k for k in range(9)] and played[9] == 2000.0
    assert loop.stats.idle_ticks == 0 and loop.stats.requests == 3


def test_the_observation_is_assembled_from_the_robot_and_the_task():
    policy = ChunkPolicy(size=5)
    loop, clock = virtual_loop(policy, latency_s=0.0)
    loop.start_episode("stack the cubes")
    run_ticks(loop, clock, 1)
    observation = policy.observations[0]
    assert set(observation) == {"robot_state.q", "robot_state.dq", "robot_state.ee_pose", "grip", "image.wrist",
                                "task"}
    assert observation["task"] == "stack the cubes"


def test_no_request_goes_out_before_the_robot_has_reported():
    robot = FakeRobot(ready=False)
    policy = ChunkPolicy(size=5)
    loop, clock = virtual_loop(policy, latency_s=0.0, robot=robot)
    loop.start_episode("t")
    assert run_ticks(loop, clock, 3) == [None] * 3 and policy.requests == 0
    robot.ready = True
    clock.t = 3 * TICK
    assert loop.tick() is not None and policy.requests == 1


def test_recording_puts_each_chunk_at_its_request_time_and_one_idle_flag_per_tick():
    sink = ListSink()
    loop, clock = virtual_loop(ChunkPolicy(size=30), latency_s=0.3, sink=sink)
    loop.start_episode("t", sink=sink)
    run_ticks(loop, clock, 40)
    assert [v for _, v in sink.samples["inference.idle"]] == [1] * 5 + [0] * 35
    assert [ts for ts, _ in sink.samples["inference.chunk_size"]] == [0, round(24 * TICK * 1e9)]
    assert sink.samples["inference.chunk"][0][1].shape == (30 * 8,)
    assert len(sink.samples["robot_state.q"]) == 40 and len(sink.samples["image.wrist"]) == 40


def test_a_failed_call_raises_or_holds_until_the_next_episode():
    loop, clock = virtual_loop(ChunkPolicy(size=3, fail_on=2), latency_s=0.0)
    loop.start_episode("t")
    with pytest.raises(InferenceError, match="server lost"):
        run_ticks(loop, clock, 10)

    policy = ChunkPolicy(size=3, fail_on=2)
    loop, clock = virtual_loop(policy, latency_s=0.0, on_error="hold")
    loop.start_episode("t")
    played = run_ticks(loop, clock, 12)
    assert loop.stats.errors == 1 and "server lost" in loop.stats.last_error and not loop.running
    last = max(i for i, a in enumerate(played) if a is not None)
    assert played[last + 1:] == [None] * (len(played) - last - 1) and policy.requests == 2
    policy.fail_on = None
    loop.start_episode("t")
    assert any(run_ticks(loop, clock, 3)) and policy.sessions == 2


def test_a_thread_executor_never_blocks_the_tick_and_measures_latency_on_the_loop_clock():
    gate = threading.Event()
    policy = ChunkPolicy(size=30, gate=gate)
    clock = FakeClock()
    loop = ControlLoop(FakeRobot(), policy, clock=clock, executor=ThreadExecutor(clock), policy_fps=FPS,
                       cameras=["image.wrist"], slack_ticks=2, on_error="hold")
    try:
        loop.start_episode("t")
        assert loop.executor.submit(lambda: None).wait(5)  # calls run in order: the session is open now
        assert loop.tick() is None and loop.in_flight is not None
        pending = loop.in_flight
        clock.t = 2.0  # two seconds of ROS (or simulated) time pass while the model thinks
        for _ in range(3):
            assert loop.tick() is None
        assert loop.stats.requests == 1
        gate.set()
        assert pending.wait(5)
        clock.t = 2.0 + TICK
        assert target(loop.tick()) is not None
        assert loop.stats.latencies_s == [2.0]
        assert loop.stats.wall_latencies_s[0] < 2.0
    finally:
        gate.set()
        loop.close()


def test_the_session_opens_off_the_tick_and_the_arm_holds_until_it_has():
    open_gate = threading.Event()
    policy = ChunkPolicy(size=5, open_gate=open_gate)
    clock = FakeClock()
    loop = ControlLoop(FakeRobot(), policy, clock=clock, executor=ThreadExecutor(clock), policy_fps=FPS,
                       on_error="hold")
    try:
        loop.start_episode("t")
        assert [loop.tick() for _ in range(3)] == [None] * 3 and policy.requests == 0
        open_gate.set()
        executor_idle = loop.executor.submit(lambda: None)
        assert executor_idle.wait(5)
        loop.tick()
        assert policy.sessions == 1 and loop.stats.requests == 1 and loop.in_flight is not None
    finally:
        open_gate.set()
        loop.close()


def test_close_returns_while_a_call_is_still_in_flight():
    gate = threading.Event()
    policy = ChunkPolicy(size=5, gate=gate)
    clock = FakeClock()
    loop = ControlLoop(FakeRobot(), policy, clock=clock, executor=ThreadExecutor(clock), policy_fps=FPS,
                       on_error="hold")
    loop.start_episode("t")
    assert loop.executor.submit(lambda: None).wait(5)
    loop.tick()
    pending = loop.in_flight
    loop.close()
    # close() came back while the model was still blocked: it did not wait for the call.
    assert not gate.is_set() and not pending.wait(0)
    gate.set()
    assert pending.wait(5)


def test_without_the_robot_the_sink_gets_only_the_inference_timeline():
    sink = ListSink()
    clock = FakeClock()
    loop = ControlLoop(FakeRobot(), ChunkPolicy(size=30), clock=clock, executor=InlineExecutor(clock),
                       policy_fps=FPS, cameras=["image.wrist"], sink=sink, record_robot=False)
    loop.start_episode("t", sink=sink)
    run_ticks(loop, clock, 10)
    assert set(sink.samples) == {"inference.latency_ms", "inference.chunk_size", "inference.chunk", "inference.idle"}
    assert len(sink.samples["inference.idle"]) == 10


def test_a_chunk_executing_robot_gets_each_chunk_timed_from_its_request_and_an_empty_one_to_hold():
    chunks = []
    policy = ChunkPolicy(size=5, fail_on=3)
    clock = FakeClock()
    loop = ControlLoop(FakeRobot(), policy, clock=clock, executor=InlineExecutor(clock, lambda wall_s: 0.1),
                       policy_fps=FPS, on_error="hold", on_chunk=lambda actions, at: chunks.append((at, actions)))
    loop.start_episode("t")
    run_ticks(loop, clock, 12)
    # Two chunks arrived, each stamped with the time it was asked for; the failed third dropped the plan.
    assert [len(actions) for _, actions in chunks] == [5, 5, 0]
    assert chunks[0][0] == 0.0 and 0.0 < chunks[1][0] < chunks[2][0]
    assert target(chunks[1][1][0]) == 2000.0

    loop.start_episode("t")
    run_ticks(loop, clock, 2)
    chunks.clear()
    loop.stop_episode()
    assert chunks == [(clock.t, [])]
