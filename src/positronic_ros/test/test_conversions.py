"""The ROS boundary: quaternion order, joint-name order, and commands to messages and back."""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs ROS 2 (source /opt/ros/jazzy/setup.bash); rclpy is not importable")

from sensor_msgs.msg import JointState  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from positronic_core.geometry import pose7_to_pose12  # noqa: E402
from positronic_core.robot.commands import CartesianPosition, JointDelta, JointPosition, Reset  # noqa: E402
from positronic_ros import conversions  # noqa: E402

STAMP = conversions.ns_to_stamp(1_500_000_000)


def test_pose_quaternion_is_xyzw_in_ros_and_wxyz_in_positronic():
    pose7 = np.array([0.1, 0.2, 0.3, 0.9, 0.1, 0.2, 0.3])
    msg = conversions.pose7_to_msg(pose7, STAMP)
    o = msg.pose.orientation
    assert (o.x, o.y, o.z, o.w) == (0.1, 0.2, 0.3, 0.9)
    np.testing.assert_array_equal(conversions.msg_to_pose7(msg), pose7)


def test_joint_states_are_reordered_by_name():
    msg = JointState(name=list(reversed(conversions.JOINT_NAMES)) + ["finger"],
                     position=[7.0, 6, 5, 4, 3, 2, 1, 0.04], velocity=[0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    q, dq = conversions.joint_state_arrays(msg)
    np.testing.assert_array_equal(q, [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(dq, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    with pytest.raises(ValueError, match="panda_joint1"):
        conversions.joint_state_arrays(JointState(name=["x"], position=[0.0]))


def test_commands_become_messages_and_back():
    pose12 = pose7_to_pose12([0.4, 0.0, 0.2, 0.0, 1.0, 0.0, 0.0])
    pose_msg = conversions.command_to_msg(CartesianPosition(pose12), None, STAMP, 1 / 15)
    np.testing.assert_allclose(conversions.pose_msg_to_command(pose_msg).pose, pose12, atol=1e-12)
    q = np.arange(7, dtype=float) / 10
    trajectory = conversions.command_to_msg(JointPosition(q), None, STAMP, 1 / 15)
    assert isinstance(trajectory, JointTrajectory) and trajectory.joint_names == conversions.JOINT_NAMES
    np.testing.assert_allclose(conversions.trajectory_to_command(trajectory).positions, q)
    delta = conversions.command_to_msg(JointDelta(np.full(7, 0.01)), q, STAMP, 1 / 15)
    np.testing.assert_allclose(delta.points[0].positions, q + 0.01)
    assert conversions.command_to_msg(JointDelta(np.zeros(7)), None, STAMP, 1 / 15) is None
    assert conversions.command_to_msg(Reset(), q, STAMP, 1 / 15) is None
