import numpy as np
import pytest
from tiny_act import make_observation

from positronic_core.codecs import ObservationError
from positronic_core.codecs.actions import AbsoluteEEPoseRot6dAction
from positronic_core.codecs.codec import Codec
from positronic_core.codecs.groot import LANGUAGE_KEY, VARIANTS, GrootCodec, get_variant
from positronic_core.codecs.image_resize import resize_with_padding
from positronic_core.geometry import matrix_to_rot6d, pose7_to_pose9, pose7_to_pose12
from positronic_core.robot.commands import Action, CartesianPosition


def test_the_six_variants_are_the_seeds_subcommands_with_upstreams_modality_configs():
    assert list(VARIANTS) == ["ee", "ee_joints", "ee_rot6d", "ee_rot6d_joints", "ee_rot6d_rel", "ee_rot6d_joints_rel"]
    assert {v.name: v.modality_config.removeprefix("gr00t/configs/data/positronic_") for v in VARIANTS.values()} == {
        "ee": "ee.py", "ee_joints": "ee_joints.py", "ee_rot6d": "ee_rot6d.py", "ee_rot6d_joints": "ee_rot6d_joints.py",
        "ee_rot6d_rel": "ee_rot6d_rel.py", "ee_rot6d_joints_rel": "ee_rot6d_joints_rel.py"}
    with pytest.raises(LookupError, match="unknown GR00T variant 'ee_quat'; choose one of ee, ee_joints"):
        get_variant("ee_quat")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_encode_builds_the_nested_batched_input(name):
    codec = GrootCodec(get_variant(name))
    observations = [make_observation(seed) for seed in range(2)]
    encoded = codec.encode(observations)
    assert set(encoded) == {"video", "state", "language"}
    for key, camera in (("wrist_image", "image.wrist"), ("exterior_image_1", "image.exterior")):
        video = encoded["video"][key]
        assert video.dtype == np.uint8 and video.shape == (2, 1, 224, 224, 3)
        np.testing.assert_array_equal(video[1, 0], resize_with_padding(observations[1][camera], 224, 224))
    state = encoded["state"]
    assert set(state) == {"ee_pose", "grip"} | ({"joint_position"} if codec.variant.joints else set())
    assert all(v.dtype == np.float32 for v in state.values())
    pose = observations[1]["robot_state.ee_pose"]
    expected_pose = pose7_to_pose9(pose) if codec.variant.rot6d else pose
    np.testing.assert_allclose(state["ee_pose"][1, 0], expected_pose, rtol=1e-6, atol=1e-6)
    assert state["ee_pose"].shape == (2, 1, codec.pose_dim)
    assert state["grip"].shape == (2, 1, 1) and state["grip"][1, 0, 0] == np.float32(observations[1]["grip"])
    if codec.variant.joints:
        np.testing.assert_allclose(state["joint_position"][0, 0], observations[0]["robot_state.q"], rtol=1e-6)
    assert encoded["language"] == {LANGUAGE_KEY: [["stack the cubes"], ["stack the cubes"]]}


def test_rot6d_state_is_the_first_two_rows_of_the_observed_rotation():
    observation = make_observation(3)
    state = GrootCodec(get_variant("ee_rot6d")).encode([observation])["state"]["ee_pose"][0, 0]
    rotation = pose7_to_pose12(observation["robot_state.ee_pose"])[3:].reshape(3, 3)
    np.testing.assert_allclose(state[3:], matrix_to_rot6d(rotation), atol=1e-6)


def _model_answer(codec: GrootCodec, encoded: dict, steps: int = 3) -> dict:
    pose = np.repeat(encoded["state"]["ee_pose"], steps, axis=1).astype(np.float64)
    pose[:, :, 0] += 0.01 * np.arange(1, steps + 1)
    return {"ee_pose": pose.astype(np.float32), "grip": np.full((pose.shape[0], steps, 1), 0.5, np.float32)}


@pytest.mark.parametrize("name", ["ee", "ee_rot6d_rel", "ee_rot6d_joints"])
def test_decode_turns_each_step_into_an_absolute_pose_and_grip(name):
    codec = GrootCodec(get_variant(name))
    observations = [make_observation(seed) for seed in range(2)]
    answer = _model_answer(codec, codec.encode(observations))
    for index, observation in enumerate(observations):
        actions = codec.decode(answer, index, observation)
        assert [a.timestamp for a in actions] == pytest.approx([0.0, 1 / 15, 2 / 15])
        expected = pose7_to_pose12(observation["robot_state.ee_pose"])
        for step, action in enumerate(actions):
            assert isinstance(action.command, CartesianPosition) and action.target_grip == 0.5
            np.testing.assert_allclose(action.command.translation, expected[:3] + [0.01 * (step + 1), 0, 0],
                                       atol=1e-6)
            np.testing.assert_allclose(action.command.rotation, expected[3:].reshape(3, 3), atol=1e-5)


def test_a_noisy_rot6d_answer_still_decodes_to_a_proper_rotation():
    codec = GrootCodec(get_variant("ee_rot6d"))
    answer = {"ee_pose": np.array([[[0.4, 0.0, 0.3, 0.9, 0.1, 0.0, 0.2, 1.1, 0.05]]], np.float32),
              "grip": np.zeros((1, 1, 1), np.float32)}
    rotation = codec.decode(answer, 0, {})[0].command.rotation
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_decode_refuses_answers_that_do_not_fit_the_variant():
    codec = GrootCodec(get_variant("ee_rot6d"))
    with pytest.raises(ValueError, match=r"without \['grip'\].*match variant 'ee_rot6d'"):
        codec.decode({"ee_pose": np.zeros((1, 2, 9))}, 0, {})
    with pytest.raises(ValueError, match=r"decodes ee_pose \(T, 9\) and grip \(T, 1\), got \(2, 7\)"):
        codec.decode({"ee_pose": np.zeros((1, 2, 7)), "grip": np.zeros((1, 2, 1))}, 0, {})
    with pytest.raises(ValueError, match="must be \\(batch, steps, dim\\) with at least 2 batch elements"):
        codec.decode({"ee_pose": np.zeros((1, 2, 9)), "grip": np.zeros((1, 2, 1))}, 1, {})


def test_bad_observations_are_named_by_index():
    codec = GrootCodec(get_variant("ee_rot6d_joints"))
    incomplete = make_observation(1)
    del incomplete["robot_state.q"]
    with pytest.raises(ObservationError, match="observation 1: missing 'robot_state.q'"):
        codec.encode([make_observation(0), incomplete])
    zero_quat = make_observation(0)
    zero_quat["robot_state.ee_pose"] = np.zeros(7)
    with pytest.raises(ObservationError, match="zero quaternion"):
        codec.encode([zero_quat])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_warmup_observation_encodes(name):
    codec = GrootCodec(get_variant(name))
    assert codec.encode([codec.warmup_observation()])["video"]["wrist_image"].shape == (1, 1, 224, 224, 3)


def test_meta_names_variant_sizes_and_rate():
    assert GrootCodec(get_variant("ee_rot6d_rel")).meta == {
        "codec": "groot_ee_rot6d_rel", "image_sizes": {"image.wrist": [224, 224], "image.exterior": [224, 224]},
        "action_fps": 15.0, "groot_variant": "ee_rot6d_rel",
        "modality_config": "gr00t/configs/data/positronic_ee_rot6d_rel.py"}


def test_rot6d_action_round_trips_through_encode():
    codec = Codec(name="t", state=(), images=(), action=AbsoluteEEPoseRot6dAction())
    pose12 = pose7_to_pose12(make_observation(5)["robot_state.ee_pose"])
    action = Action(CartesianPosition(pose12), 0.7)
    vector = codec.encode_action(action)
    assert vector.shape == (10,) and vector.dtype == np.float32
    decoded = codec.decode(vector, {})[0]
    np.testing.assert_allclose(decoded.command.pose, pose12, atol=1e-6)
    assert decoded.target_grip == pytest.approx(0.7)
