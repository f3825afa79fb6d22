"""Safety limits: what is clipped, what is refused, and the FR3 config against franka_description's own limits."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from positronic_core.geometry import pose7_to_pose12
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.robot.safety import SafetyConfigError, limits_from_mapping, load_limits

CONFIG = Path(__file__).resolve().parents[4] / "config" / "fr3_safety.yaml"
FRANKA_LIMITS = Path("/opt/ros/jazzy-control/share/franka_description/robots/fr3/joint_limits.yaml")
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


@pytest.fixture()
def limits():
    return load_limits(CONFIG)


def test_a_target_inside_every_limit_passes_unchanged(limits):
    target = HOME + 0.01
    out = limits.limit(Action(JointPosition(target), 0.5, 0.1), HOME, 1 / 15)
    assert out.notes == [] and np.array_equal(out.action.command.positions, target)
    assert out.action.target_grip == 0.5 and out.action.timestamp == 0.1


def test_a_joint_target_beyond_its_range_is_clipped_inside_the_margin(limits):
    target = HOME.copy()
    target[3] = 0.3  # joint4's upper limit is -0.1518
    out = limits.limit(Action(JointPosition(target), 0.0), None, 1 / 15)
    assert out.action.command.positions[3] == pytest.approx(-0.1518 - limits.position_margin)
    assert out.notes == ["joint position clipped on fr3_joint4"]


def test_a_step_faster_than_the_allowed_velocity_is_shortened(limits):
    target = HOME.copy()
    target[0] += 1.0  # 1 rad in one tick of 1/15 s is 15 rad/s
    out = limits.limit(Action(JointPosition(target), 0.0), HOME, 1 / 15)
    step = out.action.command.positions - HOME
    assert step[0] == pytest.approx(2.62 * limits.velocity_scale / 15)
    assert np.allclose(step[1:], 0) and out.notes == ["joint velocity clipped on fr3_joint1"]


def test_a_joint_delta_becomes_a_limited_target_and_without_measured_joints_is_refused(limits):
    out = limits.limit(Action(JointDelta(np.full(7, 0.01)), 0.0), HOME, 1 / 15)
    assert np.allclose(out.action.command.positions, HOME + 0.01)
    refused = limits.limit(Action(JointDelta(np.zeros(7)), 0.0), None, 1 / 15)
    assert refused.action is None and "no measured joints" in refused.notes[0]


def test_an_end_effector_target_outside_the_workspace_is_moved_onto_its_box(limits):
    pose = pose7_to_pose12([0.5, 0.0, -0.2, 0, 1, 0, 0])  # 20 cm below the table
    out = limits.limit(Action(CartesianPosition(pose), 1.0), None, 1 / 15)
    assert out.action.command.translation.tolist() == [0.5, 0.0, limits.workspace_min[2]]
    assert np.array_equal(out.action.command.rotation, CartesianPosition(pose).rotation)
    assert "clipped into the workspace" in out.notes[0]


def test_a_reset_is_refused_on_a_live_arm(limits):
    assert limits.limit(Action(Reset(), 0.0), HOME, 1 / 15).action is None


def test_a_chunk_is_limited_point_by_point_from_the_measured_joints(limits):
    points = np.stack([HOME + [0.5, 0, 0, 0, 0, 0, 0], HOME + [0.5, 0, 0, 0, 0, 0, 0], HOME])
    out, notes = limits.limit_trajectory(points, np.array([0.1, 1.0, 1.1]), HOME)
    rate = 2.62 * limits.velocity_scale
    assert out[0, 0] == pytest.approx(HOME[0] + rate * 0.1)
    assert out[1, 0] == pytest.approx(HOME[0] + 0.5)  # 0.9 s later the rest of the way is allowed
    assert out[2, 0] == pytest.approx(HOME[0] + 0.5 - rate * 0.1)
    assert notes == ["joint velocity clipped on fr3_joint1"]


@pytest.mark.parametrize("edit, named", [
    (lambda d: d.pop("workspace"), "missing entry 'workspace'"),
    (lambda d: d["joints"].update(lower=[0.0] * 6), "joints.lower must have 7 values"),
    (lambda d: d.update(position_margin=3.0), "leaves no room"),
])
def test_a_bad_config_names_its_problem(edit, named):
    data = yaml.safe_load(CONFIG.read_text())
    edit(data)
    with pytest.raises(SafetyConfigError, match=named):
        limits_from_mapping(data, "x.yaml")


def test_an_unreadable_config_is_one_clear_error(tmp_path):
    with pytest.raises(SafetyConfigError, match="cannot read safety config"):
        load_limits(tmp_path / "none.yaml")


@pytest.mark.skipif(not FRANKA_LIMITS.exists(), reason="needs franka_description (the ROS control overlay at "
                                                        "/opt/ros/jazzy-control) to compare against")
def test_the_fr3_config_has_franka_descriptions_joint_limits(limits):
    franka = yaml.safe_load(FRANKA_LIMITS.read_text())
    for i in range(7):
        limit = franka[f"joint{i + 1}"]["limit"]
        assert limits.joint_lower[i] == limit["lower"] and limits.joint_upper[i] == limit["upper"]
        assert limits.joint_velocity[i] == limit["velocity"]
