"""Upstream Positronic 0.2.1's client (`InferenceClient`, `RemotePolicy`) against OUR server.

Upstream runs in its own venv (see `test/support/upstream.py`); each check is what upstream's own code did with our
frames, including `roboarm.command.from_wire`, which upstream's harness applies to every action before it moves an
arm. A robot rig still on upstream 0.2.x must be able to point at our server and change nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
from upstream import UpstreamClient, UpstreamError, guide_observation, upstream_missing_reason

from positronic_core.geometry import pose7_to_pose12, quat_wxyz_to_matrix
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.serve.backends.hold_pose import HoldPoseModel, HoldPoseSource
from positronic_core.serve.server import running_server

pytestmark = pytest.mark.skipif(upstream_missing_reason() is not None, reason=str(upstream_missing_reason()))

CHUNK = 3


class _RecordingModel(HoldPoseModel):
    """HoldPoseModel that keeps every observation it was given, to check what arrived over the wire."""

    def __init__(self, seen: list, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seen = seen

    def infer_batch(self, observations):
        self.seen.extend(observations)
        return super().infer_batch(observations)


class _RecordingSource(HoldPoseSource):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list = []

    def load(self, model_id, progress):
        self.loads.append(model_id)
        return _RecordingModel(self.seen, **self.model_kwargs)


@pytest.fixture(scope="module")
def source():
    return _RecordingSource(["1", "2"], chunk_size=CHUNK)


@pytest.fixture(scope="module")
def server(source):
    with running_server(source) as server:
        yield server


@pytest.fixture(scope="module")
def upstream(server):
    with UpstreamClient("127.0.0.1", server.port) as client:
        yield client


def _assert_holds_pose(decoded: list[dict], obs: dict, count: int) -> None:
    assert len(decoded) == count
    for i, action in enumerate(decoded):
        assert "error" not in action, f"upstream could not decode action {i}: {action['error']}"
        assert action["class"] == "CartesianPosition"
        np.testing.assert_allclose(action["translation"], obs["robot_state.ee_pose"][:3], atol=1e-12)
        np.testing.assert_allclose(action["rotation"], quat_wxyz_to_matrix(obs["robot_state.ee_pose"][3:]),
                                   atol=1e-12)
        assert action["target_grip"] == pytest.approx(obs["grip"])


def test_list_models_and_default_session_is_the_latest(upstream, server):
    assert upstream.list_models() == ["1", "2"]
    meta = upstream.new_session()
    assert meta["model_id"] == "2" and meta["type"] == "hold_pose"
    assert meta["port"] == server.port
    assert upstream.new_session("1")["model_id"] == "1"


def test_guide_observation_arrives_intact_and_the_chunk_decodes_in_upstream(upstream, source):
    upstream.new_session()
    source.seen.clear()
    reply = upstream.infer(seed=3)
    obs = guide_observation(3)

    (seen,) = source.seen
    for key in ("image.wrist", "image.exterior"):
        assert seen[key].dtype == np.uint8 and seen[key].shape == (224, 224, 3)
        np.testing.assert_array_equal(seen[key], obs[key])
    for key in ("robot_state.q", "robot_state.dq", "robot_state.ee_pose"):
        np.testing.assert_array_equal(seen[key], obs[key])
    assert seen["grip"] == obs["grip"] and seen["task"] == obs["task"]

    _assert_holds_pose(reply["decoded"], obs, CHUNK)
    assert [a["timestamp"] for a in reply["decoded"]] == pytest.approx([i / 15.0 for i in range(CHUNK)])


def test_unknown_model_raises_in_upstreams_client_with_our_message(upstream):
    with pytest.raises(UpstreamError) as refused:
        upstream.new_session("9")
    # Upstream's client raises RuntimeError("Server error: ...") if the socket is still open when it has read the
    # error; our server keeps it open briefly for exactly that (upstream's own server often loses the race, and
    # the user sees "Bad file descriptor").
    assert refused.value.error_type == "RuntimeError"
    assert "'9' not found" in refused.value.message and "1, 2" in refused.value.message
    assert upstream.new_session()["model_id"] == "2"


def test_error_reply_raises_in_upstream_and_the_session_survives(upstream):
    upstream.new_session()
    with pytest.raises(UpstreamError) as failed:
        upstream.infer(seed=4, **{"robot_state.ee_pose": [1.0, 2.0, 3.0]})
    assert failed.value.error_type == "RuntimeError" and "7 values" in failed.value.message
    _assert_holds_pose(upstream.infer(seed=4)["decoded"], guide_observation(4), CHUNK)


def test_upstream_remote_policy_resizes_truncates_and_decodes(upstream, source):
    # Our hold_pose meta has no image_sizes, so upstream falls back to `resize`; our timestamps (i / 15 s) let its
    # horizon_sec keep only the actions due within 0.1 s.
    upstream.call("remote_policy", resize=112, horizon_sec=0.1)
    try:
        source.seen.clear()
        reply = upstream.call("policy_select_action", seed=5)
        _assert_holds_pose(reply["decoded"], guide_observation(5), 2)
        assert source.seen[-1]["image.wrist"].shape == (112, 112, 3)
        meta = upstream.call("policy_meta")
        assert meta["type"] == "remote" and meta["server.model_id"] == "2" and meta["server.type"] == "hold_pose"
    finally:
        upstream.call("policy_close")


class _EveryCommandModel:
    """One action of each protocol v1 command type, with values taken from the observation."""

    meta = {"type": "every_command"}
    max_batch_size = 1

    def infer_batch(self, observations):
        obs = observations[0]
        q = np.asarray(obs["robot_state.q"])
        return [[
            Action(CartesianPosition(pose7_to_pose12(obs["robot_state.ee_pose"])), 0.25, 0.0),
            Action(JointPosition(q), 0.5, 0.1),
            Action(JointDelta(np.asarray(obs["robot_state.dq"])), 0.75, 0.2),
            Action(Reset(), 1.0, 0.3),
        ]]

    def close(self):
        pass


class _EveryCommandSource(HoldPoseSource):
    def load(self, model_id, progress):
        return _EveryCommandModel()


def test_every_command_type_decodes_in_upstream_to_its_own_class():
    with running_server(_EveryCommandSource()) as server, UpstreamClient("127.0.0.1", server.port) as client:
        client.new_session()
        decoded = client.infer(seed=8)["decoded"]
    obs = guide_observation(8)
    assert [a.get("class", a.get("error")) for a in decoded] == [
        "CartesianPosition", "JointPosition", "JointDelta", "Reset"]
    np.testing.assert_allclose(decoded[0]["translation"], obs["robot_state.ee_pose"][:3])
    np.testing.assert_allclose(decoded[1]["positions"], obs["robot_state.q"])
    np.testing.assert_allclose(decoded[2]["velocities"], obs["robot_state.dq"])
    assert [a["target_grip"] for a in decoded] == [0.25, 0.5, 0.75, 1.0]
    assert [a["timestamp"] for a in decoded] == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_upstream_client_gets_the_tiny_act_chunk_our_model_computes(tmp_path):
    tiny_act = pytest.importorskip("tiny_act", reason="test/support/tiny_act.py (tiny ACT checkpoints) is missing")
    try:
        from positronic_core.models.lerobot_act import load_act_checkpoint
    except ImportError as e:
        pytest.skip(f"the lerobot ACT backend does not import: {e}")
    from positronic_core.models.checkpoints import CheckpointRegistry
    from positronic_core.serve.checkpoint_source import CheckpointSource

    tiny_act.make_tiny_act_checkpoint(tmp_path, codec="ee", lerobot_format="0.4.4")
    registry = CheckpointRegistry(tmp_path)
    act_source = CheckpointSource(registry, lambda path, progress: load_act_checkpoint(path, "ee", "cpu",
                                                                                      progress=progress))
    obs = guide_observation(6)
    local = load_act_checkpoint(registry.path(registry.resolve(None)), "ee", "cpu")
    try:
        (expected,) = local.infer_batch([obs])
    finally:
        local.close()

    with running_server(act_source) as server, UpstreamClient("127.0.0.1", server.port) as client:
        meta = client.new_session()
        assert meta["type"] == "act" and meta["model_id"] == registry.resolve(None)
        assert meta["image_sizes"] == {"image.wrist": [224, 224], "image.exterior": [224, 224]}
        decoded = client.infer(seed=6)["decoded"]
        # Upstream's RemotePolicy reads image_sizes from our meta; the guide's 224x224 images already fit.
        client.call("remote_policy")
        via_policy = client.call("policy_select_action", seed=6)["decoded"]
        client.call("policy_close")

    assert len(decoded) == len(expected) == tiny_act.CHUNK_SIZE
    for got, want in zip(decoded, expected, strict=True):
        assert "error" not in got, got
        assert got["class"] == "CartesianPosition"
        np.testing.assert_allclose(got["translation"], want.command.translation, atol=1e-6)
        np.testing.assert_allclose(got["rotation"], want.command.rotation, atol=1e-6)
        assert got["target_grip"] == pytest.approx(want.target_grip, abs=1e-6)
        assert got["timestamp"] == pytest.approx(want.timestamp)
    np.testing.assert_allclose([a["translation"] for a in via_policy], [a["translation"] for a in decoded], atol=1e-6)
