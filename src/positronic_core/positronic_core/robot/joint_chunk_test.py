import numpy as np
import pytest

from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.robot.joint_chunk import chunk_to_joints
from positronic_core.sim.franka import HOME_Q
from positronic_core.sim.ik import panda_ik

TICK = 1 / 15


def test_joint_targets_keep_their_timestamps_and_grips():
    actions = [Action(JointPosition(HOME_Q + 0.01 * i), target_grip=i / 2, timestamp=0.1 + 0.2 * i) for i in range(3)]
    chunk = chunk_to_joints(actions, TICK, HOME_Q)
    np.testing.assert_allclose(chunk.times_s, [0.1, 0.3, 0.5])
    np.testing.assert_allclose(chunk.positions[2], HOME_Q + 0.02)
    np.testing.assert_allclose(chunk.grips, [0.0, 0.5, 1.0])


def test_untimestamped_actions_are_a_tick_apart_and_deltas_accumulate_from_the_measured_joints():
    step = np.full(7, 0.01)
    chunk = chunk_to_joints([Action(JointDelta(step), 0.0)] * 3, TICK, HOME_Q)
    np.testing.assert_allclose(chunk.times_s, [0.0, TICK, 2 * TICK])
    np.testing.assert_allclose(chunk.positions[-1], HOME_Q + 3 * step)


def test_cartesian_targets_are_solved_by_the_arms_ik_along_the_chunk():
    ik = panda_ik()
    home_position, rotation = ik.site_pose(HOME_Q)
    targets = [home_position + [0.0, 0.02 * i, -0.03 * i] for i in range(1, 4)]
    actions = [Action(CartesianPosition(np.concatenate([p, rotation.reshape(-1)])), 1.0) for p in targets]
    chunk = chunk_to_joints(actions, TICK, HOME_Q, lambda p, r, seed: ik.solve(p, r, seed).q)
    for q, target in zip(chunk.positions, targets, strict=True):
        position, reached = ik.site_pose(q)
        np.testing.assert_allclose(position, target, atol=1e-3)
        np.testing.assert_allclose(reached, rotation, atol=1e-2)


@pytest.mark.parametrize("actions, problem", [
    ([], "empty"),
    ([Action(Reset(), 0.0)], "not a joint-space motion"),
    ([Action(JointPosition(HOME_Q), 0.0, timestamp=0.2), Action(JointPosition(HOME_Q), 0.0, timestamp=0.2)],
     "not after"),
    ([Action(CartesianPosition(np.r_[0.4, 0.0, 0.2, np.eye(3).reshape(-1)]), 0.0)], "inverse kinematics"),
])
def test_a_chunk_that_is_no_trajectory_is_refused_naming_why(actions, problem):
    with pytest.raises(ValueError, match=problem):
        chunk_to_joints(actions, TICK, HOME_Q)


def test_a_late_chunk_keeps_the_waypoints_still_ahead_timed_from_now():
    actions = [Action(JointPosition(HOME_Q + 0.01 * i), target_grip=i / 4, timestamp=0.2 * (i + 1)) for i in range(5)]
    chunk = chunk_to_joints(actions, TICK, HOME_Q)

    on_time = chunk.ahead(0.0, TICK)
    np.testing.assert_allclose(on_time.times_s, chunk.times_s)

    late = chunk.ahead(0.5, TICK)
    np.testing.assert_allclose(late.times_s, [0.1, 0.3, 0.5])
    np.testing.assert_allclose(late.positions, chunk.positions[2:])
    np.testing.assert_allclose(late.grips, [0.5, 0.75, 1.0])


def test_a_chunk_wholly_in_the_past_becomes_its_last_waypoint_in_a_tick():
    actions = [Action(JointPosition(HOME_Q + 0.01 * i), target_grip=1.0, timestamp=0.1 * (i + 1)) for i in range(3)]
    chunk = chunk_to_joints(actions, TICK, HOME_Q)
    stale = chunk.ahead(0.31, TICK)
    np.testing.assert_allclose(stale.times_s, [TICK])
    np.testing.assert_allclose(stale.positions, [HOME_Q + 0.02])
