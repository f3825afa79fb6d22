import numpy as np
import pytest

from positronic_core.geometry import pose7_to_pose12, quat_wxyz_to_matrix
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.sim import StackCubesSim
from positronic_core.sim.franka import HOME_Q
from positronic_core.sim.ik import rotation_error


@pytest.fixture(scope="module")
def sim():
    sim = StackCubesSim()
    yield sim
    sim.close()


def _hold(sim: StackCubesSim, grip: float = 0.0) -> Action:
    return Action(JointPosition(sim.robot_state()["robot_state.q"]), grip)


def _rollout(sim: StackCubesSim, seed: int) -> tuple[list[np.ndarray], bytes]:
    sim.reset(seed)
    qs = []
    for i in range(10):
        delta = np.full(7, 0.02 if i < 5 else -0.01)
        sim.apply(Action(JointDelta(delta), 0.5))
        sim.advance(1 / 15)
        qs.append(sim.robot_state()["robot_state.q"])
    return qs, sim.render(["image.exterior"])["image.exterior"].tobytes()


def test_same_seed_gives_identical_trajectories_and_images(sim):
    qs_a, image_a = _rollout(sim, 5)
    _rollout(sim, 6)  # anything in between must not leak into the next episode
    qs_b, image_b = _rollout(sim, 5)
    assert all(np.array_equal(a, b) for a, b in zip(qs_a, qs_b, strict=True))
    assert image_a == image_b


def test_different_seeds_place_cubes_differently(sim):
    sim.reset(1)
    first = sim.privileged_state()
    sim.reset(2)
    second = sim.privileged_state()
    assert not np.allclose(first["sim.box_red.pose"], second["sim.box_red.pose"])
    assert not np.allclose(first["sim.box_green.pose"], second["sim.box_green.pose"])


def test_reset_homes_the_arm_opens_the_gripper_and_zeroes_time(sim):
    sim.reset(3)
    state = sim.robot_state()
    assert sim.time == 0.0
    np.testing.assert_allclose(state["robot_state.q"], HOME_Q, atol=1e-3)
    assert state["grip"] < 0.05
    for name in ("sim.box_red.pose", "sim.box_green.pose"):
        pose = sim.privileged_state()[name]
        assert pose.shape == (7,)
        assert 0.3 <= pose[0] <= 0.7 and -0.29 <= pose[1] <= 0.29
        assert abs(pose[2] - 0.01) < 1e-3  # resting on the table


def test_time_follows_requested_durations_without_drift(sim):
    sim.reset(0)
    for _ in range(45):
        sim.apply(_hold(sim))
        sim.advance(1 / 15)
    assert abs(sim.time - 3.0) <= 0.001


def test_robot_state_has_the_canonical_keys_and_shapes(sim):
    sim.reset(0)
    state = sim.robot_state()
    assert set(state) == {"robot_state.q", "robot_state.dq", "robot_state.ee_pose", "grip"}
    assert state["robot_state.q"].shape == (7,)
    assert state["robot_state.dq"].shape == (7,)
    assert state["robot_state.ee_pose"].shape == (7,)
    assert np.isclose(np.linalg.norm(state["robot_state.ee_pose"][3:]), 1.0)
    assert isinstance(state["grip"], float)


def test_cartesian_command_reaches_the_target_through_ik(sim):
    sim.reset(0)
    start = sim.robot_state()["robot_state.ee_pose"]
    target = pose7_to_pose12(start)
    target[:3] += (0.1, -0.12, -0.1)
    yaw = 0.4
    turn = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    target[3:] = (turn @ target[3:].reshape(3, 3)).reshape(9)
    sim.apply(Action(CartesianPosition(target), 0.0))
    sim.advance(1.5)
    reached = sim.robot_state()["robot_state.ee_pose"]
    assert np.linalg.norm(reached[:3] - target[:3]) < 0.005
    assert np.linalg.norm(rotation_error(target[3:].reshape(3, 3), quat_wxyz_to_matrix(reached[3:]))) < 0.02


def test_joint_position_command_is_tracked(sim):
    sim.reset(0)
    target = HOME_Q + np.array([0.2, 0.1, -0.1, 0.2, 0.1, -0.1, 0.3])
    sim.apply(Action(JointPosition(target), 0.0))
    sim.advance(1.5)
    np.testing.assert_allclose(sim.robot_state()["robot_state.q"], target, atol=2e-3)


def test_joint_delta_adds_to_the_current_joints(sim):
    sim.reset(0)
    before = sim.robot_state()["robot_state.q"]
    delta = np.array([0.1, -0.05, 0.05, 0.1, -0.1, 0.05, -0.2])
    sim.apply(Action(JointDelta(delta), 0.0))
    sim.advance(1.0)
    np.testing.assert_allclose(sim.robot_state()["robot_state.q"], before + delta, atol=2e-3)


def test_reset_command_rehomes_the_arm_and_leaves_the_cubes(sim):
    sim.reset(0)
    cubes = sim.privileged_state()
    sim.apply(Action(JointPosition(HOME_Q + 0.3 * np.sign(np.arange(7) - 3)), 0.0))
    sim.advance(1.0)
    assert np.abs(sim.robot_state()["robot_state.q"] - HOME_Q).max() > 0.2
    sim.apply(Action(Reset(), 0.0))
    sim.advance(2.0)
    np.testing.assert_allclose(sim.robot_state()["robot_state.q"], HOME_Q, atol=2e-3)
    for name, pose in cubes.items():
        np.testing.assert_allclose(sim.privileged_state()[name][:3], pose[:3], atol=1e-3)


def test_grip_zero_is_open_and_one_is_closed(sim):
    sim.reset(0)
    sim.apply(_hold(sim, grip=1.0))
    sim.advance(1.0)
    closed = sim.robot_state()["grip"]
    sim.apply(_hold(sim, grip=0.0))
    sim.advance(1.0)
    opened = sim.robot_state()["grip"]
    assert closed > 0.9
    assert opened < 0.05


def test_render_returns_only_the_requested_cameras(sim):
    sim.reset(0)
    images = sim.render(["image.wrist"])
    assert list(images) == ["image.wrist"]
    assert images["image.wrist"].shape == (240, 320, 3)
    assert images["image.wrist"].dtype == np.uint8
    assert sim.render([]) == {}
    assert set(sim.render()) == {"image.wrist", "image.exterior", "image.agent_view"}
    with pytest.raises(KeyError, match="image.nowhere"):
        sim.render(["image.nowhere"])


def test_render_honours_camera_size_and_camera_selection():
    small = StackCubesSim(camera_size=(160, 120), cameras=("image.exterior",), render_quality="default")
    try:
        images = small.render()
        assert list(images) == ["image.exterior"]
        assert images["image.exterior"].shape == (120, 160, 3)
        # Not a blank frame: the table, robot and cubes give it some contrast.
        assert images["image.exterior"].std() > 10
        with pytest.raises(KeyError):
            small.render(["image.wrist"])
    finally:
        small.close()


def test_unknown_camera_or_quality_is_refused():
    with pytest.raises(ValueError, match="image.top"):
        StackCubesSim(cameras=("image.top",))
    with pytest.raises(ValueError, match="render_quality"):
        StackCubesSim(render_quality="ultra")
