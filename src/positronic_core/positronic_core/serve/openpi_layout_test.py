"""openpi-style observations -> robot observations, and action chunks -> openpi's (H, D) rows."""

import numpy as np
import pytest

from positronic_core.geometry import pose7_to_pose12
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.serve.openpi_layout import LAYOUTS, OpenpiObservationError, actions_to_rows, get_layout

POSE7 = np.array([0.4, -0.1, 0.3, 0.5, 0.5, -0.5, 0.5])
Q = np.linspace(-1.0, 1.0, 7)


def _images(dtype=np.uint8):
    rng = np.random.default_rng(0)
    return {"observation/image": rng.integers(0, 256, (240, 320, 3)).astype(dtype),
            "observation/wrist_image": rng.integers(0, 256, (224, 224, 3)).astype(dtype)}


def test_ee_layout_splits_state_into_pose_and_grip_and_renames_cameras_and_prompt():
    images = _images()
    obs = get_layout("ee").to_observation({"observation/state": np.append(POSE7, 0.25).astype(np.float32),
                                           **images, "prompt": "stack the cubes"})
    assert set(obs) == {"robot_state.ee_pose", "grip", "image.exterior", "image.wrist", "task"}
    np.testing.assert_allclose(obs["robot_state.ee_pose"], POSE7, rtol=1e-6)
    assert obs["grip"] == pytest.approx(0.25)
    assert np.array_equal(obs["image.exterior"], images["observation/image"])
    assert np.array_equal(obs["image.wrist"], images["observation/wrist_image"])
    assert obs["task"] == "stack the cubes"


def test_joint_layouts_take_joints_in_their_place():
    joints = get_layout("joints").to_observation({"observation/state": np.append(Q, 1.0), **_images()})
    np.testing.assert_allclose(joints["robot_state.q"], Q)
    assert joints["grip"] == 1.0 and "robot_state.ee_pose" not in joints and "task" not in joints
    both = get_layout("ee_joints").to_observation({"observation/state": np.concatenate([POSE7, [0.5], Q]),
                                                   **_images()})
    np.testing.assert_allclose(both["robot_state.ee_pose"], POSE7)
    np.testing.assert_allclose(both["robot_state.q"], Q)
    assert both["grip"] == 0.5


def test_channel_first_and_float_images_become_hwc_uint8_as_openpi_policies_read_them():
    images = _images()
    chw = {key: image.transpose(2, 0, 1) for key, image in images.items()}
    obs = get_layout("ee").to_observation({"observation/state": np.zeros(8), **chw})
    assert np.array_equal(obs["image.exterior"], images["observation/image"])
    floats = {key: image.astype(np.float32) / 255.0 for key, image in images.items()}
    obs = get_layout("ee").to_observation({"observation/state": np.zeros(8), **floats})
    assert obs["image.wrist"].dtype == np.uint8
    assert np.abs(obs["image.wrist"].astype(int) - images["observation/wrist_image"]).max() <= 1


@pytest.mark.parametrize(("change", "message"), [
    ({"observation/state": None}, "missing 'observation/state'"),
    ({"observation/state": np.zeros(7)}, "must have 8 values for layout 'ee'"),
    ({"observation/state": "eight"}, "must be numeric"),
    ({"observation/image": None}, "missing 'observation/image'"),
    ({"observation/wrist_image": np.zeros((224, 224, 3), np.int64)}, "uint8 or float image"),
    ({"observation/wrist_image": np.zeros((224, 224), np.uint8)}, "uint8 or float image"),
    ({"observation/image": np.zeros((224, 224, 4), np.uint8)}, "3 channels"),
    ({"observation/image": np.full((4, 4, 3), np.nan, np.float32)}, "non-finite"),
    ({"prompt": 3}, "'prompt' must be a string"),
])
def test_bad_observations_name_the_openpi_key(change, message):
    obs = {"observation/state": np.zeros(8), **_images(), "prompt": "p"}
    obs.update(change)
    obs = {key: value for key, value in obs.items() if value is not None}
    with pytest.raises(OpenpiObservationError, match=message):
        get_layout("ee").to_observation(obs)


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(LookupError, match="ee, ee_joints, joints"):
        get_layout("droid")
    assert set(LAYOUTS) == {"ee", "ee_joints", "joints"}


def test_cartesian_actions_become_pose_quaternion_and_grip_rows():
    chunk = [Action(CartesianPosition(pose7_to_pose12(POSE7)), 0.75, 0.0),
             Action(CartesianPosition(pose7_to_pose12(POSE7 + [0.1, 0, 0, 0, 0, 0, 0])), 0.0, 1 / 15)]
    rows = actions_to_rows(chunk)
    assert rows.shape == (2, 8) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[0], np.append(POSE7, 0.75), atol=1e-6)
    assert rows[1, 0] == pytest.approx(0.5) and rows[1, 7] == 0.0


def test_joint_actions_become_joint_and_grip_rows():
    rows = actions_to_rows([Action(JointPosition(Q), 1.0)] * 3)
    assert rows.shape == (3, 8)
    np.testing.assert_allclose(rows[:, :7], np.tile(Q, (3, 1)), rtol=1e-6)
    np.testing.assert_allclose(actions_to_rows([Action(JointDelta(Q), 0.0)])[0, :7], Q, rtol=1e-6)


def test_chunks_without_an_h_by_d_form_are_refused():
    with pytest.raises(ValueError, match="mixing"):
        actions_to_rows([Action(JointPosition(Q), 1.0), Action(CartesianPosition(pose7_to_pose12(POSE7)), 1.0)])
    with pytest.raises(ValueError, match="Reset command has no openpi action row"):
        actions_to_rows([Action(Reset(), 0.0)])
    with pytest.raises(ValueError, match="empty chunk"):
        actions_to_rows([])
