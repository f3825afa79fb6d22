import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("lerobot")

from tiny_act import CHUNK_SIZE, make_observation, make_tiny_act_checkpoint  # noqa: E402

from positronic_core.models.errors import UnknownModelError  # noqa: E402
from positronic_core.policy.local_act import LocalActPolicy  # noqa: E402
from positronic_core.robot.commands import CartesianPosition  # noqa: E402


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    """A LeRobot training output with two checkpoints: step 1000 (0.4.4 format) and step 2000 (0.3.3 format)."""
    root = tmp_path_factory.mktemp("run")
    make_tiny_act_checkpoint(root, lerobot_format="0.4.4", seed=1, step=1000)
    make_tiny_act_checkpoint(root, lerobot_format="0.3.3", seed=2, step=2000)
    return root


@pytest.fixture(autouse=True)
def conversion_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSITRONIC_ROS_CACHE", str(tmp_path / "cache"))


def test_latest_checkpoint_runs_end_to_end(training_run):
    policy = LocalActPolicy(training_run)
    try:
        assert policy.meta["type"] == "act"
        assert policy.meta["checkpoint_id"] == "002000"
        assert policy.meta["codec"] == "ee"
        assert policy.meta["checkpoint_format"] == "lerobot-0.3.3"
        assert policy.wants_privileged_state is False
        session = policy.new_session({"task": "stack the cubes"})
        first = session.infer(make_observation(0))
        second = session.infer(make_observation(1))
        session.close()
    finally:
        policy.close()
    assert len(first) == CHUNK_SIZE
    assert all(isinstance(action.command, CartesianPosition) for action in first)
    assert first[1].timestamp == pytest.approx(1 / 15)
    assert not np.allclose(first[0].command.pose, second[0].command.pose)


def test_named_checkpoint_with_or_without_padding(training_run):
    policy = LocalActPolicy(training_run, checkpoint=1000)
    try:
        assert policy.meta["checkpoint_id"] == "001000"
        assert policy.checkpoint_path == training_run / "checkpoints" / "001000" / "pretrained_model"
    finally:
        policy.close()
    with pytest.raises(RuntimeError, match="closed"):
        policy.new_session({})


def test_unknown_checkpoint_lists_the_available_ones(training_run):
    with pytest.raises(UnknownModelError, match="'5000' not found.*available: 001000, 002000"):
        LocalActPolicy(training_run, checkpoint="5000")


def test_steps_directly_under_the_checkpoints_dir(training_run, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(training_run / "checkpoints", flat)
    policy = LocalActPolicy(flat, codec="ee")
    try:
        assert policy.meta["checkpoint_id"] == "002000"
    finally:
        policy.close()
