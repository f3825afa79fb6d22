"""The ROS boundary: quaternion order, joint-name order, and commands to messages and back."""

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

from sensor_msgs.msg import Image, JointState  # noqa: E402
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


def _frame(height=48, width=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_numpy_images_round_trip_and_read_every_encoding_we_accept():
    frame = _frame()
    msg = conversions.numpy_array_to_image(frame)
    assert (msg.height, msg.width, msg.encoding, msg.step) == (48, 64, "rgb8", 64 * 3)
    np.testing.assert_array_equal(conversions.numpy_image_to_array(msg), frame)

    # bgr8 with each row padded by 4 bytes (`step` longer than a row), as some camera drivers publish.
    rows = np.hstack([frame[..., ::-1].reshape(48, -1), np.zeros((48, 4), np.uint8)])
    padded = Image(height=48, width=64, encoding="bgr8", step=64 * 3 + 4, data=rows.tobytes())
    np.testing.assert_array_equal(conversions.numpy_image_to_array(padded), frame)
    with pytest.raises(ValueError, match="RGB frame"):
        conversions.numpy_array_to_image(frame[..., 0])


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_cv_bridge_and_numpy_give_identical_images(encoding):
    cv_bridge = pytest.importorskip(
        "cv_bridge", reason="cv_bridge is not installed (it is not on PyPI): only the numpy conversion exists here")
    bridge = cv_bridge.CvBridge()
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}[encoding]
    pixels = np.random.default_rng(1).integers(0, 256, (48, 64, channels), dtype=np.uint8)
    msg = bridge.cv2_to_imgmsg(pixels[..., 0] if channels == 1 else pixels, encoding=encoding)
    np.testing.assert_array_equal(conversions.numpy_image_to_array(msg),
                                  bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))

    frame = _frame(seed=2)
    ours, theirs = conversions.numpy_array_to_image(frame), bridge.cv2_to_imgmsg(frame, encoding="rgb8")
    for field in ("height", "width", "encoding", "is_bigendian", "step"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert bytes(ours.data) == bytes(theirs.data)
