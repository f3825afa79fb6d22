from types import SimpleNamespace as NS

import numpy as np
import pytest

from positronic_core.bags import topics


def _image(encoding: str, pixels: np.ndarray, padding: int = 0) -> NS:
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1)
    padded = np.zeros((height, row.shape[1] + padding), dtype=np.uint8)
    padded[:, : row.shape[1]] = row
    return NS(encoding=encoding, height=height, width=width, step=padded.shape[1], data=padded.reshape(-1))


def test_arm_joints_are_picked_in_panda_order_whatever_the_message_order():
    names = (
        "panda_joint3",
        "panda_finger_joint1",
        "panda_joint1",
        "panda_joint2",
        "panda_joint7",
        "panda_joint5",
        "panda_joint6",
        "panda_joint4",
    )
    order = topics.arm_joint_order(names)
    assert [names[i] for i in order] == list(topics.ARM_JOINTS)


def test_the_fr3s_joint_names_are_picked_in_order_too():
    names = tuple(reversed(topics.FR3_JOINTS)) + ("fr3_finger_joint1",)
    order = topics.arm_joint_order(names)
    assert [names[i] for i in order] == list(topics.FR3_JOINTS)
    with pytest.raises(topics.MessageError, match="fr3_joint1"):
        topics.arm_joint_order(topics.FR3_JOINTS[1:])


def test_a_message_with_only_finger_joints_records_nothing_and_a_partial_arm_is_an_error():
    assert topics.arm_joint_order(("panda_finger_joint1", "panda_finger_joint2")) is None
    with pytest.raises(topics.MessageError, match="panda_joint7"):
        topics.arm_joint_order(topics.ARM_JOINTS[:6])


def test_joint_state_positions_and_velocities_are_reordered_and_length_checked():
    names = list(reversed(topics.ARM_JOINTS)) + ["panda_finger_joint1"]
    msg = NS(name=names, position=np.arange(8.0), velocity=np.arange(8.0) * 10)
    samples = dict(topics.joint_state_samples(msg))
    np.testing.assert_array_equal(samples["robot_state.q"], [6, 5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(samples["robot_state.dq"], [60, 50, 40, 30, 20, 10, 0])
    no_velocity = dict(topics.joint_state_samples(NS(name=names, position=np.arange(8.0), velocity=np.zeros(0))))
    assert set(no_velocity) == {"robot_state.q"}
    with pytest.raises(topics.MessageError, match="8 joint names but 7 positions"):
        topics.joint_state_samples(NS(name=names, position=np.arange(7.0), velocity=np.zeros(0)))


def test_trajectory_takes_the_first_point_reordered():
    names = list(reversed(topics.ARM_JOINTS))
    msg = NS(joint_names=names, points=[NS(positions=np.arange(7.0)), NS(positions=np.ones(7))])
    ((signal, value),) = topics.trajectory_samples(msg)
    assert signal == "robot_commands.joints"
    np.testing.assert_array_equal(value, [6, 5, 4, 3, 2, 1, 0])
    assert topics.trajectory_samples(NS(joint_names=names, points=[])) == ()


def test_pose_quaternion_goes_from_ros_xyzw_to_wxyz():
    msg = NS(pose=NS(position=NS(x=1.0, y=2.0, z=3.0), orientation=NS(x=0.1, y=0.2, z=0.3, w=0.9)))
    np.testing.assert_array_equal(topics.pose7(msg), [1.0, 2.0, 3.0, 0.9, 0.1, 0.2, 0.3])


def test_images_become_rgb_from_each_supported_encoding_and_row_padding_is_skipped():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(topics.image_rgb(_image("rgb8", rgb, padding=5)), rgb)
    np.testing.assert_array_equal(topics.image_rgb(_image("bgr8", rgb[..., ::-1])), rgb)
    rgba = np.concatenate([rgb, np.full((4, 6, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(topics.image_rgb(_image("rgba8", rgba)), rgb)
    np.testing.assert_array_equal(topics.image_rgb(_image("bgra8", rgba[..., [2, 1, 0, 3]])), rgb)
    mono = rgb[..., :1]
    np.testing.assert_array_equal(topics.image_rgb(_image("mono8", mono)), np.repeat(mono, 3, axis=2))


def test_unusable_images_are_errors_naming_the_problem():
    rgb = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(topics.MessageError, match="16UC1"):
        topics.image_rgb(_image("16UC1", rgb))
    short = _image("rgb8", rgb)
    short.data = short.data[:-1]
    with pytest.raises(topics.MessageError, match="holds 71 bytes"):
        topics.image_rgb(short)
    narrow = _image("rgb8", rgb)
    narrow.step = 10
    with pytest.raises(topics.MessageError, match="step 10"):
        topics.image_rgb(narrow)


def test_header_stamp_zero_or_absent_means_receive_time():
    assert topics.header_stamp_ns(NS(header=NS(stamp=NS(sec=2, nanosec=5)))) == 2_000_000_005
    assert topics.header_stamp_ns(NS(header=NS(stamp=NS(sec=0, nanosec=0)))) is None
    assert topics.header_stamp_ns(NS(data=1.0)) is None


def test_topic_table():
    assert topics.camera_signal("/camera/wrist/image_raw") == "image.wrist"
    assert topics.camera_signal("/camera/left/front/image_raw") == "image.left.front"
    assert topics.camera_signal("/camera/wrist/camera_info") is None
    assert topics.rule_for("/camera/wrist/image_raw").signals == ("image.wrist",)
    assert topics.rule_for("/gripper/state").signals == ("grip",)
    assert topics.rule_for("/gripper/command").signals == ("target_grip",)
    assert topics.rule_for("/policy/stats") is None


def test_packed_rgb_copies_views_and_passes_contiguous_frames_through():
    bgr = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    view = bgr[..., ::-1]
    packed = topics.packed_rgb(view)
    assert packed.flags.c_contiguous
    np.testing.assert_array_equal(packed, view)
    assert topics.packed_rgb(bgr) is bgr
