"""Upstream Positronic 0.4.1's client (`InferenceClient`, `positronic-inference sim --policy=.remote`) against OUR
server.

0.4.1 runs in its own venv (see `test/support/upstream04.py`). It speaks protocol v1 to a server whose ready frame
carries no `protocol_version`, after probing the root with a WebSocket upgrade it expects refused with 403, and its
`RemotePolicy` plays our chunks through the client stack our handshake meta declares. A rig on 0.4.x must be able
to point at our server and change nothing else.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from upstream import UpstreamError, guide_observation
from upstream04 import Upstream04Client, run_upstream04_sim, upstream04_missing_reason

from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.serve.backends.hold_pose import HoldPoseSource
from positronic_core.serve.server import ServerConfig, running_server

pytestmark = pytest.mark.skipif(upstream04_missing_reason() is not None, reason=str(upstream04_missing_reason()))

CHUNK = 4
FPS = 15.0
#: Simulated seconds of the sim episode: enough for several chunks at 15 actions per second.
SIM_SECONDS = 2


@pytest.fixture(scope="module")
def server():
    with running_server(HoldPoseSource(chunk_size=CHUNK, action_fps=FPS), ServerConfig(port=0)) as server:
        yield server


def test_keepalive_probe_session_infer_and_close(server):
    with Upstream04Client("127.0.0.1", server.port) as client:
        # No idle timeout on our server, which 0.4.1 reads as None; and the root probe is answered with 403.
        assert client.call("keepalive") is None
        assert client.call("wait_for_server") is None

        opened = client.call("new_session")
        assert opened["protocol_version"] == 1 and opened["session_id"] is None
        assert opened["meta"]["type"] == "hold_pose" and opened["meta"]["model_id"] == "1"
        # The stack 0.4.1 built from our declaration: no commands while an arm is in error, and its chunked schedule
        # at our action rate, between its v1 adapters (observation times in, chunk timestamps out).
        assert opened["stack"] == ["StampObservationTimes", "PauseOnUnavailable", "ChunkedSchedule",
                                   "ChunkFromV1Answer"]
        assert opened["stack_meta"] == {"action_fps": FPS}

        decoded = client.call("infer", seed=3)
        obs = guide_observation(3)
        assert len(decoded) == CHUNK
        for action in decoded:
            assert action["class"] == "CartesianPosition"
            np.testing.assert_allclose(action["translation"], obs["robot_state.ee_pose"][:3], atol=1e-12)
            np.testing.assert_allclose(action["rotation"], quat_wxyz_to_matrix(obs["robot_state.ee_pose"][3:]),
                                       atol=1e-12)
            assert action["target_grip"] == pytest.approx(obs["grip"])
        assert [a["timestamp"] for a in decoded] == pytest.approx([i / FPS for i in range(CHUNK)])

        client.call("close_session")
        # A closed session frees the server for the next one, as a new episode opens it.
        assert client.call("new_session")["meta"]["model_id"] == "1"
        client.call("close_session")


def test_keepalive_and_probe_refuse_a_missing_token_the_way_0_4_1_reads_it():
    with running_server(HoldPoseSource(), ServerConfig(port=0, auth_token="s3cret")) as server, \
            Upstream04Client("127.0.0.1", server.port) as client:
        with pytest.raises(UpstreamError) as refused:
            client.call("keepalive")
        # 0.4.1 reads a 401 on its HTTP API as a refused credential (FORBIDDEN), not as a missing route.
        assert refused.value.error_type == "ConnectRefused" and "answers 401" in refused.value.message
        # The probe only asks whether a session server answers; the session itself then needs the token.
        assert client.call("wait_for_server") is None


def test_upstream_sim_plays_our_chunks_to_the_end_of_an_episode(server, tmp_path):
    done = run_upstream04_sim("127.0.0.1", server.port, tmp_path, sim_seconds=SIM_SECONDS)
    assert done.returncode == 0, done.stderr[-4000:]
    (episode,) = [p.parent for p in tmp_path.rglob("static.json")]
    static = json.loads((episode / "static.json").read_text())
    assert static["inference.policy.type"] == "remote"
    assert static["inference.policy.server.type"] == "hold_pose"
    assert static["inference.policy.server.local_stack.seq"][-1]["name"] == "chunked_schedule"
    scheduled = static["inference.policy.eval.schedule.scheduled"]
    assert scheduled >= 3 * CHUNK and static["inference.policy.eval.schedule.dropped"] == 0

    commands = pq.read_table(episode / "robot_command.pose.parquet").to_pydict()
    times = np.asarray(commands["ts.harness.world"], dtype=np.int64)
    poses = np.asarray(commands["value"])
    assert len(times) == static["inference.policy.eval.schedule.emitted"] >= 3 * CHUNK
    # Each chunk holds one absolute pose and plays it one 1/15 s period per action, as 0.2.1 played our
    # timestamps; the sim's clock ticks in 2 ms, hence the tolerance.
    whole_chunks = len(times) // CHUNK * CHUNK
    for start in range(0, whole_chunks, CHUNK):
        np.testing.assert_allclose(poses[start:start + CHUNK], np.broadcast_to(poses[start], (CHUNK, 7)))
        np.testing.assert_allclose(np.diff(times[start:start + CHUNK]) / 1e9, 1 / FPS, atol=0.0025)
    # The held pose is where the arm was: its first command is the first observed pose.
    observed = pq.read_table(episode / "robot_state.ee_pose.parquet").to_pydict()["value"]
    np.testing.assert_allclose(poses[0][:3], observed[0][:3], atol=1e-3)


def test_upstream_client_plays_the_tiny_act_chunk_our_model_computes(tmp_path):
    tiny_act = pytest.importorskip("tiny_act", reason="test/support/tiny_act.py (tiny ACT checkpoints) is missing")
    try:
        from positronic_core.models.lerobot_act import load_act_checkpoint
    except ImportError as e:
        pytest.skip(f"the lerobot ACT backend does not import: {e}")
    from positronic_core.models.checkpoints import CheckpointRegistry
    from positronic_core.serve.checkpoint_source import CheckpointSource

    tiny_act.make_tiny_act_checkpoint(tmp_path, codec="ee", lerobot_format="0.4.4")
    registry = CheckpointRegistry(tmp_path)
    source = CheckpointSource(registry, lambda path, progress: load_act_checkpoint(path, "ee", "cpu",
                                                                                  progress=progress))
    local = load_act_checkpoint(registry.path(registry.resolve(None)), "ee", "cpu")
    try:
        (expected,) = local.infer_batch([guide_observation(6)])
    finally:
        local.close()

    with running_server(source, ServerConfig(port=0)) as server, \
            Upstream04Client("127.0.0.1", server.port) as client:
        opened = client.call("new_session")
        decoded = client.call("infer", seed=6)
        client.call("close_session")

    assert opened["meta"]["type"] == "act"
    # 0.4.1 schedules the chunk at the rate our codec stamped it with.
    assert opened["stack_meta"] == {"action_fps": opened["meta"]["action_fps"]}
    assert [a.timestamp for a in expected] == pytest.approx(
        [i / opened["meta"]["action_fps"] for i in range(len(expected))])
    assert len(decoded) == len(expected) == tiny_act.CHUNK_SIZE
    for got, want in zip(decoded, expected, strict=True):
        assert got["class"] == "CartesianPosition"
        np.testing.assert_allclose(got["translation"], want.command.translation, atol=1e-6)
        np.testing.assert_allclose(got["rotation"], want.command.rotation, atol=1e-6)
        assert got["target_grip"] == pytest.approx(want.target_grip, abs=1e-6)


def test_upstream_sim_runs_an_episode_on_our_act_backend(tmp_path):
    tiny_act = pytest.importorskip("tiny_act", reason="test/support/tiny_act.py (tiny ACT checkpoints) is missing")
    try:
        from positronic_core.models.lerobot_act import load_act_checkpoint
    except ImportError as e:
        pytest.skip(f"the lerobot ACT backend does not import: {e}")
    from positronic_core.models.checkpoints import CheckpointRegistry
    from positronic_core.serve.checkpoint_source import CheckpointSource

    checkpoints = tmp_path / "checkpoints"
    tiny_act.make_tiny_act_checkpoint(checkpoints, codec="ee", lerobot_format="0.4.4")
    source = CheckpointSource(CheckpointRegistry(checkpoints),
                              lambda path, progress: load_act_checkpoint(path, "ee", "cpu", progress=progress))
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    with running_server(source, ServerConfig(port=0)) as server:
        done = run_upstream04_sim("127.0.0.1", server.port, recordings, sim_seconds=SIM_SECONDS)
    assert done.returncode == 0, done.stderr[-4000:]
    (episode,) = [p.parent for p in recordings.rglob("static.json")]
    static = json.loads((episode / "static.json").read_text())
    assert static["inference.policy.server.type"] == "act"
    assert static["inference.policy.eval.schedule.dropped"] == 0
    # 0.4.1 scheduled whole chunks of our model's length and played from them until the episode's end.
    assert static["inference.policy.eval.schedule.scheduled"] >= tiny_act.CHUNK_SIZE
    commands = pq.read_table(episode / "robot_command.pose.parquet").to_pydict()["value"]
    assert len(commands) == static["inference.policy.eval.schedule.emitted"] > 0
    assert np.isfinite(np.asarray(commands)).all()
