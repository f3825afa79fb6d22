"""The safety guard on an injected clock: holds start in the tick they are noticed, block every policy action, and
are recorded; ends of holds, and limits, as documented."""

from pathlib import Path

import numpy as np
import pytest

from positronic_core.robot.commands import Action, JointPosition
from positronic_core.robot.joint_chunk import JointChunk
from positronic_core.robot.safety import load_limits
from positronic_core.runtime.control_loop import ControlLoop
from positronic_core.runtime.inference_executor import InlineExecutor
from positronic_core.runtime.safety_guard import HOLD_CODES, SafetyGuard
from positronic_core.wire.client import InferenceError

CONFIG = Path(__file__).resolve().parents[4] / "config" / "fr3_safety.yaml"
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
TICK = 1 / 15


class Clock:
    def __init__(self):
        self.t = 100.0

    def now(self):
        return self.t


class Arm:
    """A live arm's adapter: records what reaches it; its joint state is measured at `measured_at`."""

    def __init__(self, clock):
        self.clock = clock
        self.measured_at = clock.t
        self.sent = []

    def apply(self, action):
        self.sent.append(("apply", action.command.positions.copy()))

    def hold(self):
        self.sent.append(("hold", HOME.copy()))

    def state_time(self):
        return self.measured_at

    def robot_state(self):
        return {"robot_state.q": HOME, "robot_state.dq": np.zeros(7),
                "robot_state.ee_pose": np.array([0.5, 0, 0.5, 0, 1, 0, 0.0]), "grip": 0.0}

    def render(self, names=None):
        return {n: np.zeros((4, 4, 3), np.uint8) for n in names or []}

    def observers(self):
        return {}

    def privileged_state(self):
        return None


class Sink:
    def __init__(self):
        self.samples = []

    def append(self, name, value, ts_ns):
        self.samples.append((name, value, ts_ns))

    def set_static(self, key, value):
        pass


@pytest.fixture()
def rig():
    clock = Clock()
    arm = Arm(clock)
    guard = SafetyGuard(arm, load_limits(CONFIG), clock, TICK)
    sink = Sink()
    guard.start_episode(sink)
    return clock, arm, guard, sink


def _step(q):
    return Action(JointPosition(q), 0.0)


def test_commands_are_limited_before_they_reach_the_arm_and_each_limit_is_recorded(rig):
    clock, arm, guard, sink = rig
    guard.apply(_step(HOME + [1.0, 0, 0, 0, 0, 0, 0]))
    assert arm.sent[0][1][0] == pytest.approx(2.62 * 0.5 * TICK)
    assert sink.samples == [("safety.limited", 1, int(100.0 * 1e9))]
    # Velocity is measured from the last target sent, so the arm approaches a far target at the allowed speed.
    clock.t += TICK
    guard.apply(_step(HOME + [1.0, 0, 0, 0, 0, 0, 0]))
    assert arm.sent[1][1][0] == pytest.approx(2 * 2.62 * 0.5 * TICK)


def test_an_operator_hold_freezes_the_arm_at_once_and_blocks_actions_until_released(rig):
    clock, arm, guard, sink = rig
    guard.hold("operator")
    assert arm.sent == [("hold", pytest.approx(HOME))]
    guard.apply(_step(HOME))
    assert [kind for kind, _ in arm.sent] == ["hold"]
    clock.t += TICK
    guard.release("operator")
    guard.apply(_step(HOME))
    assert [kind for kind, _ in arm.sent] == ["hold", "apply"]
    assert [(n, v) for n, v, _ in sink.samples] == [("safety.hold", HOLD_CODES["operator"]), ("safety.hold", 0)]


def test_stale_joint_states_hold_in_the_tick_they_are_noticed_and_release_when_fresh(rig):
    clock, arm, guard, sink = rig
    limit = guard.limits.stale_after_s
    clock.t += limit - 1e-9  # just inside the limit: still fresh
    guard.check(session_open=True, failed=False)
    assert not guard.held
    clock.t += TICK
    guard.check(session_open=True, failed=False)
    assert guard.holds.keys() == {"stale_state"} and arm.sent == [("hold", pytest.approx(HOME))]
    arm.measured_at = clock.t
    guard.check(session_open=True, failed=False)
    assert not guard.held


def test_a_dry_plan_holds_and_the_next_action_releases_it(rig):
    clock, arm, guard, sink = rig
    guard.check(session_open=True, failed=False)  # no action yet this episode: nothing to be stale
    guard.apply(_step(HOME))
    for _ in range(4):
        clock.t += TICK
        arm.measured_at = clock.t
        guard.check(session_open=True, failed=False)
    assert guard.holds.keys() == {"stale_actions"}
    guard.apply(_step(HOME))
    assert not guard.held and arm.sent[-1][0] == "apply"


class FailingAfter:
    """A policy whose session answers `good` requests, then fails as a lost server does."""

    wants_privileged_state = False
    meta = {}

    def __init__(self, good):
        self.good = good

    def new_session(self, context):
        policy = self

        class Session:
            def infer(self, observation):
                if policy.good == 0:
                    raise InferenceError("connection lost")
                policy.good -= 1
                return [Action(JointPosition(HOME), 0.0, 0.0)]

            def close(self):
                pass

        return Session()

    def close(self):
        pass


def test_a_lost_server_holds_the_arm_in_the_same_tick_and_a_new_episode_releases_it(rig):
    clock, arm, guard, sink = rig
    loop = ControlLoop(guard, FailingAfter(good=1), clock=clock, executor=InlineExecutor(clock), policy_fps=15,
                       on_error="hold", record_robot=False)
    loop.start_episode("task", sink=sink)
    for _ in range(3):
        errors = loop.stats.errors
        loop.tick()
        guard.check(loop.stats.session_open, failed=loop.stats.errors > errors)
        arm.measured_at = clock.t = clock.t + TICK
    assert [kind for kind, _ in arm.sent] == ["apply", "hold"]
    assert guard.holds.keys() == {"server_lost"}
    assert ("safety.hold", HOLD_CODES["server_lost"]) in [(n, v) for n, v, _ in sink.samples]
    guard.start_episode(Sink())
    assert not guard.held


def test_a_whole_chunk_is_limited_from_the_measured_joints_and_refused_while_held(rig):
    clock, arm, guard, sink = rig
    times = np.array([TICK, 2 * TICK])
    far = np.stack([HOME + [1.0, 0, 0, 0, 0, 0, 0]] * 2)
    limited = guard.limit_chunk(JointChunk(times, far, np.zeros(2)))
    rate = 2.62 * guard.limits.velocity_scale
    # The first waypoint gets its time plus one tick from the measured joints.
    assert limited.positions[:, 0] == pytest.approx([2 * rate * TICK, 3 * rate * TICK])
    assert [n for n, _, _ in sink.samples] == ["safety.limited"]
    guard.hold("operator")
    assert guard.limit_chunk(JointChunk(times, far, np.zeros(2))) is None


def test_with_chunks_a_clip_is_recorded_once_for_the_chunk_not_again_per_tick():
    clock = Clock()
    arm = Arm(clock)
    guard = SafetyGuard(arm, load_limits(CONFIG), clock, TICK, chunked=True)
    sink = Sink()
    guard.start_episode(sink)
    far = HOME + [1.0, 0, 0, 0, 0, 0, 0]
    guard.limit_chunk(JointChunk(np.array([TICK, 2 * TICK]), np.stack([far, far]), np.zeros(2)))
    guard.apply(_step(far))  # the tick's action: only its grip moves anything
    assert [n for n, _, _ in sink.samples] == ["safety.limited"]
    assert arm.sent == [("apply", pytest.approx(far))]
    guard.hold("operator")
    guard.apply(_step(far))
    assert arm.sent[-1][0] == "hold"
