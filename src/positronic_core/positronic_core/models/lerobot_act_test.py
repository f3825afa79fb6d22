import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("lerobot")

from tiny_act import CHUNK_SIZE, make_observation, make_tiny_act_checkpoint  # noqa: E402

from positronic_core.codecs import Codec, ImageInput, ObservationError, StateInput, get_codec  # noqa: E402
from positronic_core.models.lerobot_act import (  # noqa: E402
    FORMAT_LEROBOT_0_3_3,
    FORMAT_LEROBOT_0_4,
    CheckpointError,
    CodecMismatchError,
    detect_checkpoint_format,
    load_act_checkpoint,
)
from positronic_core.robot.commands import CartesianPosition, JointPosition  # noqa: E402


def _as_array(chunks):
    """Decoded chunks -> (observations, steps, 13): pose12 or joints padded, then the target grip."""
    rows = []
    for chunk in chunks:
        steps = []
        for action in chunk:
            command = action.command
            values = command.pose if isinstance(command, CartesianPosition) else np.pad(command.positions, (0, 5))
            steps.append(np.concatenate([values, [action.target_grip]]))
        rows.append(steps)
    return np.array(rows)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("migrated")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("act")
    return {
        "0.4.4": make_tiny_act_checkpoint(root / "v044", lerobot_format="0.4.4"),
        "0.3.3": make_tiny_act_checkpoint(root / "v033", lerobot_format="0.3.3"),
    }


@pytest.fixture(scope="module")
def model(checkpoints):
    loaded = load_act_checkpoint(checkpoints["0.4.4"], "ee")
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def migrated_model(checkpoints, cache_dir):
    loaded = load_act_checkpoint(checkpoints["0.3.3"], "ee", cache_dir=cache_dir)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def observations():
    return [make_observation(seed) for seed in range(3)]


@pytest.fixture(scope="module")
def batch_chunks(model, observations):
    return model.infer_batch(observations)


def test_formats_are_told_apart(checkpoints):
    assert detect_checkpoint_format(checkpoints["0.4.4"]) == FORMAT_LEROBOT_0_4
    assert detect_checkpoint_format(checkpoints["0.3.3"]) == FORMAT_LEROBOT_0_3_3


def test_chunk_has_chunk_size_cartesian_actions_stamped_at_15_hz(batch_chunks):
    for chunk in batch_chunks:
        assert len(chunk) == CHUNK_SIZE
        assert all(isinstance(action.command, CartesianPosition) for action in chunk)
        assert [a.timestamp for a in chunk] == pytest.approx([i / 15.0 for i in range(CHUNK_SIZE)])
        for action in chunk:
            rotation = action.command.rotation
            np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)


def test_meta(model, checkpoints):
    assert model.meta == {
        "type": "act",
        "checkpoint_path": str(checkpoints["0.4.4"]),
        "codec": "ee",
        "image_sizes": {"image.wrist": [224, 224], "image.exterior": [224, 224]},
        "action_fps": 15.0,
        "chunk_size": CHUNK_SIZE,
        "device": "cpu",
        "checkpoint_format": FORMAT_LEROBOT_0_4,
    }
    assert model.max_batch_size >= 1


def test_batch_of_three_equals_three_single_calls(model, observations, batch_chunks):
    singles = [model.infer_batch([obs])[0] for obs in observations]
    batched = _as_array(batch_chunks)
    np.testing.assert_allclose(batched, _as_array(singles), atol=1e-5)
    # Different observations give different chunks, so the comparison above is not trivially true.
    assert np.abs(batched[0] - batched[1]).max() > 1e-3


def test_batches_longer_than_max_batch_size_run_in_slices(model, observations, batch_chunks):
    limit = model.max_batch_size
    model.max_batch_size = 2
    try:
        sliced = model.infer_batch(observations)
    finally:
        model.max_batch_size = limit
    np.testing.assert_allclose(_as_array(sliced), _as_array(batch_chunks), atol=1e-5)


def test_0_3_3_checkpoint_gives_the_same_chunk_as_0_4_4(migrated_model, observations, batch_chunks):
    assert migrated_model.meta["checkpoint_format"] == FORMAT_LEROBOT_0_3_3
    np.testing.assert_allclose(_as_array(migrated_model.infer_batch(observations)), _as_array(batch_chunks),
                               atol=1e-5)


def test_loading_0_3_3_with_strict_false_would_drop_normalization(checkpoints, migrated_model, observations):
    """What the migration protects against: LeRobot 0.4 reads a 0.3.3 file only non-strictly, without stats."""
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    path = str(checkpoints["0.3.3"])
    with pytest.raises(RuntimeError, match="normalize_inputs"):
        ACTPolicy.from_pretrained(path, strict=True)
    lossy = ACTPolicy.from_pretrained(path, strict=False)
    preprocessor, postprocessor = make_pre_post_processors(lossy.config)  # no statistics: identity
    batch = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
             for k, v in migrated_model.codec.encode(observations[:1]).items()}
    with torch.inference_mode():
        lossy_chunk = postprocessor(lossy.predict_action_chunk(preprocessor(batch))).numpy()[0]
        right_chunk = migrated_model._forward(migrated_model.codec.encode(observations[:1]))[0]
    assert np.abs(lossy_chunk - right_chunk).max() > 0.5


def test_0_3_3_with_shared_action_buffers_loads_the_same(tmp_path, cache_dir, observations, batch_chunks):
    path = make_tiny_act_checkpoint(tmp_path, lerobot_format="0.3.3", shared_action_stats=True)
    loaded = load_act_checkpoint(path, "ee", cache_dir=cache_dir)
    try:
        np.testing.assert_allclose(_as_array(loaded.infer_batch(observations[:1])), _as_array(batch_chunks[:1]),
                                   atol=1e-5)
    finally:
        loaded.close()


def test_conversion_is_cached(checkpoints, cache_dir, migrated_model):
    entries = sorted(p.name for p in (cache_dir / "migrated").iterdir())
    messages = []
    again = load_act_checkpoint(checkpoints["0.3.3"], "ee", cache_dir=cache_dir, progress=messages.append)
    again.close()
    assert sorted(p.name for p in (cache_dir / "migrated").iterdir()) == entries
    assert not any("converting" in m for m in messages)


def test_joints_codec_decodes_joint_positions(tmp_path):
    path = make_tiny_act_checkpoint(tmp_path, codec="joints")
    loaded = load_act_checkpoint(path, "joints")
    try:
        [chunk] = loaded.infer_batch([make_observation(0)])
    finally:
        loaded.close()
    assert len(chunk) == CHUNK_SIZE
    assert all(isinstance(action.command, JointPosition) for action in chunk)


def test_wrong_codec_names_expected_and_given_features(checkpoints):
    ee = get_codec("ee")
    ee_and_joints = dataclasses.replace(
        ee, name="ee_joints",
        state=(StateInput("robot_state.ee_pose", 7), StateInput("robot_state.q", 7), StateInput("grip", 1)))
    with pytest.raises(CodecMismatchError) as raised:
        load_act_checkpoint(checkpoints["0.4.4"], ee_and_joints)
    message = str(raised.value)
    assert "codec 'ee_joints' does not fit" in message
    assert "observation.state: [8]" in message and "observation.state: [15]" in message
    assert "codecs that fit it: ee, joints" in message

    one_camera = Codec(name="wrist_only", state=ee.state,
                       images=(ImageInput("observation.images.left", "image.wrist", 224, 224),), action=ee.action)
    with pytest.raises(CodecMismatchError, match="observation.images.side"):
        load_act_checkpoint(checkpoints["0.4.4"], one_camera)


def test_bad_observation_is_reported_with_its_index(model):
    bad = make_observation(1)
    del bad["image.wrist"]
    with pytest.raises(ObservationError, match=r"observation 1: missing 'image.wrist'") as raised:
        model.infer_batch([make_observation(0), bad])
    assert raised.value.index == 1


def test_missing_directory_and_files(tmp_path, checkpoints):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_act_checkpoint(tmp_path / "nowhere", "ee")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(checkpoints["0.4.4"] / "config.json", partial)
    with pytest.raises(CheckpointError, match="lacks model.safetensors"):
        load_act_checkpoint(partial, "ee")
    one_processor = tmp_path / "one_processor"
    shutil.copytree(checkpoints["0.4.4"], one_processor)
    (one_processor / "policy_postprocessor.json").unlink()
    with pytest.raises(CheckpointError, match="has policy_preprocessor.json but not policy_postprocessor.json"):
        load_act_checkpoint(one_processor, "ee")


def _rewrite_weights(source: Path, dest: Path, keep) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, dest)
    tensors = load_file(str(source / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if keep(k, v)}, str(dest / "model.safetensors"))
    return dest


def test_checkpoint_without_any_statistics_is_refused(tmp_path, checkpoints):
    stripped = _rewrite_weights(checkpoints["0.3.3"], tmp_path / "stripped",
                                lambda key, _: key.startswith("model."))
    with pytest.raises(CheckpointError, match="normalization statistics are missing"):
        load_act_checkpoint(stripped, "ee", cache_dir=tmp_path / "cache")


def test_0_3_3_checkpoint_missing_action_statistics_is_refused(tmp_path, checkpoints):
    no_action = _rewrite_weights(checkpoints["0.3.3"], tmp_path / "no_action",
                                 lambda key, _: "buffer_action" not in key)
    with pytest.raises(CheckpointError, match="no 'mean' for 'action'.*refusing to serve it un-normalized"):
        load_act_checkpoint(no_action, "ee", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache" / "migrated").iterdir())  # nothing half-converted is left behind


def test_0_3_3_checkpoint_with_unfilled_statistics_is_refused(tmp_path, checkpoints):
    from safetensors.torch import load_file, save_file

    unfilled = tmp_path / "unfilled"
    shutil.copytree(checkpoints["0.3.3"], unfilled)
    tensors = load_file(str(unfilled / "model.safetensors"))
    tensors["normalize_inputs.buffer_observation_state.std"] = torch.full((8,), torch.inf)
    save_file(tensors, str(unfilled / "model.safetensors"))
    with pytest.raises(CheckpointError, match="'std' of 'observation.state' is not finite"):
        load_act_checkpoint(unfilled, "ee", cache_dir=tmp_path / "cache")


def test_0_4_checkpoint_without_normalizer_statistics_is_refused(tmp_path, checkpoints):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoints["0.4.4"], broken)
    spec = json.loads((broken / "policy_postprocessor.json").read_text())
    for step in spec["steps"]:
        if step.get("state_file"):
            (broken / step.pop("state_file")).unlink()
    (broken / "policy_postprocessor.json").write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="no 'mean' statistic for 'action'"):
        load_act_checkpoint(broken, "ee")


def test_unavailable_device_is_refused(checkpoints):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(CheckpointError, match="no CUDA device"):
        load_act_checkpoint(checkpoints["0.4.4"], "ee", device="cuda")


def test_closed_model_refuses_inference(checkpoints):
    loaded = load_act_checkpoint(checkpoints["0.4.4"], "ee")
    loaded.close()
    loaded.close()
    with pytest.raises(RuntimeError, match="closed"):
        loaded.infer_batch([make_observation(0)])
