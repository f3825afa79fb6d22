import numpy as np
import pytest
from tiny_act import make_observation

from positronic_core.codecs import CODECS, ObservationError, UnknownCodecError, get_codec
from positronic_core.geometry import pose7_to_pose12
from positronic_core.robot.commands import Action, CartesianPosition, JointPosition

EE = get_codec("ee")
JOINTS = get_codec("joints")


def test_codecs_by_name():
    assert set(CODECS) >= {"ee", "joints"}
    assert get_codec(EE) is EE
    with pytest.raises(UnknownCodecError, match=r"unknown codec 'ee_quat'; available codecs: ee, ee_joints, joints"):
        get_codec("ee_quat")


def test_upstream_codec_paths_are_aliases_of_ours():
    from positronic_core.codecs.catalog import UPSTREAM_CODEC_PATHS

    assert get_codec("@positronic.vendors.lerobot.codecs.ee") is EE
    assert get_codec("@positronic.vendors.openpi.codecs.ee") is EE
    assert get_codec("@positronic.vendors.lerobot.codecs.joints") is JOINTS
    assert get_codec("@positronic.vendors.openpi.codecs.ee_joints").state_dim == 15
    assert set(UPSTREAM_CODEC_PATHS.values()) <= set(CODECS)
    with pytest.raises(UnknownCodecError, match=r"unknown codec '@positronic.vendors.openpi.codecs.droid'; "
                                                 r"available codecs: ee, ee_joints, joints \(or upstream's paths"):
        get_codec("@positronic.vendors.openpi.codecs.droid")


def test_meta_names_codec_image_sizes_and_rate():
    assert EE.meta == {
        "codec": "ee",
        "image_sizes": {"image.wrist": [224, 224], "image.exterior": [224, 224]},
        "action_fps": 15.0,
    }


def test_ee_uses_upstream_feature_names():
    assert EE.input_features == {
        "observation.state": (8,),
        "observation.images.left": (3, 224, 224),
        "observation.images.side": (3, 224, 224),
    }
    assert EE.output_features == {"action": (8,)}
    assert [(i.feature, i.key) for i in EE.images] == [
        ("observation.images.left", "image.wrist"), ("observation.images.side", "image.exterior")]


def test_encode_batch_shapes_dtypes_and_values():
    observations = [make_observation(seed) for seed in range(3)]
    batch = EE.encode(observations)
    state = batch["observation.state"]
    assert state.shape == (3, 8) and state.dtype == np.float32
    for row, obs in zip(state, observations, strict=True):
        np.testing.assert_allclose(row, np.concatenate([obs["robot_state.ee_pose"], [obs["grip"]]]), rtol=1e-6)
    for feature in ("observation.images.left", "observation.images.side"):
        images = batch[feature]
        assert images.shape == (3, 3, 224, 224) and images.dtype == np.float32
        assert images.flags.c_contiguous
        assert 0.0 <= images.min() and images.max() <= 1.0
    assert batch["task"] == ["stack the cubes"] * 3


def test_encode_pads_and_scales_images_channel_first():
    obs = make_observation(0)
    obs["image.wrist"] = np.zeros((240, 320, 3), dtype=np.uint8)
    obs["image.wrist"][..., 0] = 255  # pure red frame, 4:3
    image = EE.encode([obs])["observation.images.left"][0]
    assert np.all(image[:, :28] == 0.0) and np.all(image[:, 196:] == 0.0)  # black bars top and bottom
    assert np.all(image[0, 28:196] == 1.0) and np.all(image[1:, 28:196] == 0.0)


def test_encode_frame_keeps_uint8_hwc_for_training_export():
    frame = EE.encode_frame(make_observation(1))
    for name, spec in EE.lerobot_features.items():
        if name == "action":
            continue
        assert frame[name].shape == spec["shape"]
    assert frame["observation.images.left"].dtype == np.uint8
    assert frame["observation.state"].dtype == np.float32


def test_joints_state_is_q_and_grip():
    obs = make_observation(2)
    state = JOINTS.encode([obs])["observation.state"][0]
    np.testing.assert_allclose(state, np.concatenate([obs["robot_state.q"], [obs["grip"]]]), rtol=1e-6)


def test_decode_known_quaternion_to_rotation_matrix():
    half = np.sqrt(0.5)
    # 90 degrees about z, scalar first, deliberately not unit length: the codec normalises it.
    vector = np.array([0.4, -0.1, 0.3, 3 * half, 0.0, 0.0, 3 * half, 0.75])
    [action] = EE.decode(vector, make_observation(0))
    assert isinstance(action.command, CartesianPosition)
    np.testing.assert_allclose(action.command.translation, [0.4, -0.1, 0.3])
    np.testing.assert_allclose(action.command.rotation, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    assert action.target_grip == 0.75
    assert action.timestamp == 0.0


def test_decode_chunk_stamps_actions_at_the_action_rate():
    rows = np.tile([0.5, 0.0, 0.4, 1.0, 0.0, 0.0, 0.0, 0.2], (30, 1))
    actions = EE.decode(rows, make_observation(0))
    assert len(actions) == 30
    assert [a.timestamp for a in actions] == pytest.approx([i / 15.0 for i in range(30)])


def test_decode_refuses_bad_outputs():
    obs = make_observation(0)
    with pytest.raises(ValueError, match=r"decodes \(8,\) action vectors"):
        EE.decode(np.zeros((30, 7)), obs)
    with pytest.raises(ValueError, match="zero quaternion"):
        EE.decode(np.array([0.5, 0, 0.4, 0, 0, 0, 0, 0]), obs)
    with pytest.raises(ValueError, match="non-finite"):
        EE.decode(np.array([np.nan, 0, 0.4, 1, 0, 0, 0, 0]), obs)
    # In a chunk, the error names the first bad row's values.
    chunk = np.tile([0.5, 0, 0.4, 1, 0, 0, 0, 0], (5, 1))
    chunk[3, 4:6] = [np.inf, 7.0]
    with pytest.raises(ValueError, match=r"non-finite value: \[0.5, 0.0, 0.4, 1.0, inf, 7.0"):
        EE.decode(chunk, obs)


def test_ee_action_round_trips():
    rng = np.random.default_rng(0)
    for _ in range(20):
        quat = rng.normal(size=4)
        quat /= np.linalg.norm(quat)
        quat *= np.sign(quat[0])  # the encoder's canonical sign: w >= 0
        vector = np.concatenate([rng.uniform(-1, 1, 3), quat, [rng.uniform()]])
        [action] = EE.decode(vector, {})
        np.testing.assert_allclose(EE.encode_action(action), vector, atol=1e-6)
        expected = pose7_to_pose12(vector[:7])
        np.testing.assert_allclose(action.command.pose, expected, atol=1e-12)


def test_joints_action_round_trips():
    action = Action(JointPosition(np.linspace(-1, 1, 7)), 0.3)
    vector = JOINTS.encode_action(action)
    assert vector.dtype == np.float32 and vector.shape == (8,)
    [decoded] = JOINTS.decode(vector, {})
    assert isinstance(decoded.command, JointPosition)
    np.testing.assert_allclose(decoded.command.positions, action.command.positions, atol=1e-6)
    assert decoded.target_grip == pytest.approx(0.3)
    with pytest.raises(TypeError, match="joint_pos"):
        JOINTS.encode_action(Action(CartesianPosition(pose7_to_pose12([0, 0, 0, 1, 0, 0, 0])), 0.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.pop("robot_state.ee_pose"), r"missing 'robot_state.ee_pose' \(codec 'ee' needs"),
        (lambda o: o.update({"robot_state.ee_pose": np.zeros(6)}), "must have 7 values, got 6"),
        (lambda o: o.update({"grip": float("nan")}), "'grip' contains a non-finite value"),
        (lambda o: o.update({"image.wrist": np.zeros((240, 320, 3), dtype=np.float32)}), "uint8"),
        (lambda o: o.update({"image.exterior": np.zeros((240, 320), dtype=np.uint8)}), r"\(height, width, 3\)"),
        (lambda o: o.pop("image.exterior"), "missing 'image.exterior'"),
        (lambda o: o.update({"task": 3}), "'task' must be a string"),
    ],
)
def test_bad_observations_name_the_problem_and_the_index(change, message):
    bad = make_observation(1)
    change(bad)
    with pytest.raises(ObservationError, match=message) as raised:
        EE.encode([make_observation(0), bad])
    assert raised.value.index == 1
    assert str(raised.value).startswith("observation 1: ")


def test_missing_task_encodes_as_empty_string():
    obs = make_observation(0)
    del obs["task"]
    assert EE.encode([obs])["task"] == [""]
