"""OUR client (`RemotePolicy`, `positronic-inference sim --policy=.remote`, `validate-server`) against upstream
Positronic 0.4.1's own servers: `positronic.offboard.server.PolicyServer` (protocol v2) and `positronic_model_server`
(protocol v3), run from `.venv-upstream04` with hold-pose models (see `test/support/upstream04_servers.py`).

What 0.4.1 changed on the wire, and what each test pins: the ready frame carries `protocol_version` and a
`session_id`; requests are `{session_id, observation}`; a session ends with an `end_session` the server echoes; one
model per server (no `GET /api/v1/models`, a model id in the session path is refused with 403); session parameters in
the query string; a missing token is a 403 on the upgrade. On v3 the reply is the model's raw output and the
handshake declares the client stack that decodes it, which our side runs, or refuses in one line before an episode
records anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from upstream import guide_observation
from upstream04 import upstream04_missing_reason
from upstream04_servers import CHUNK, FPS, Upstream04Server

from positronic_core.dataset.reader import Dataset
from positronic_core.evaluate.validate_server import validate_server
from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.policy.remote import RemotePolicy
from positronic_core.robot.commands import CartesianPosition, JointPosition
from positronic_core.wire.client import InferenceClient, InferenceError, NoModelListing

pytestmark = [pytest.mark.skipif(upstream04_missing_reason() is not None, reason=str(upstream04_missing_reason())),
              pytest.mark.timeout(600)]

BIN = Path(sys.executable).parent / "positronic-inference"
#: Two simulated seconds of one small camera: several chunks, a few seconds of wall time on an idle machine.
SIM = ["--driver.simulation_time=2", "--driver.num_iterations=1", "--camera_width=96", "--camera_height=72",
       "--cameras=image.wrist"]


@pytest.fixture(scope="module")
def v2():
    with Upstream04Server("v2") as server:
        yield server


@pytest.fixture(scope="module")
def v3():
    with Upstream04Server("v3") as server:
        yield server


def run_sim(server: Upstream04Server, out: Path, *flags: str, env: dict[str, str] | None = None):
    return subprocess.run([str(BIN), "sim", "--policy=.remote", f"--policy.host={server.host}",
                           f"--policy.port={server.port}", f"--output_dir={out}", *SIM, *flags],
                          capture_output=True, text=True, timeout=240, env={**os.environ, **(env or {})})


def assert_holds_pose(actions, obs):
    assert len(actions) == CHUNK
    # The schedule 0.4.1 declares times the chunk: action i is due i / fps after it starts.
    assert [a.timestamp for a in actions] == pytest.approx([i / FPS for i in range(CHUNK)])
    for action in actions:
        assert isinstance(action.command, CartesianPosition)
        np.testing.assert_allclose(action.command.translation, obs["robot_state.ee_pose"][:3], atol=1e-6)
        np.testing.assert_allclose(action.command.rotation, quat_wxyz_to_matrix(obs["robot_state.ee_pose"][3:]),
                                   atol=1e-6)
        assert action.target_grip == pytest.approx(obs["grip"], abs=1e-6)


def test_v2_session_ids_wrapped_requests_and_an_echoed_end(v2):
    client = InferenceClient(v2.host, v2.port)
    with pytest.raises(NoModelListing, match="HTTP 404"):
        client.list_models()
    assert client.served_models() == ["hold-v2"]
    session = client.new_session()
    assert session.protocol.version == 2 and session.protocol.session_id
    # 0.4.1's server codec decoded the model's output into commands; they arrive in its `__cmd__` envelopes.
    (first, *_) = session.infer(guide_observation(1))
    assert first["robot_command"][b"__cmd__"]["type"] == "cartesian_pos"
    session.close()
    assert session.end_acknowledged is True


def test_v2_remote_policy_plays_the_servers_commands_on_its_declared_schedule(v2):
    policy = RemotePolicy(v2.host, v2.port, resize=None)
    obs = guide_observation(2)
    session = policy.new_session({})
    try:
        assert_holds_pose(session.infer(obs), obs)
        assert_holds_pose(session.infer(obs), obs)
    finally:
        session.close()
    assert policy.meta["protocol_version"] == 2 and policy.meta["server.checkpoint_id"] == "hold-v2"


def test_v2_refusals_read_as_one_clear_line(v2):
    with pytest.raises(InferenceError, match=r"HTTP 403 .*model id in the path: such a server serves one model"):
        InferenceClient(v2.host, v2.port).new_session("1")
    # 0.4.1's PolicyServer built from an instantiated deployment takes no session parameters.
    with pytest.raises(InferenceError, match="Session params require a config-launched pipeline"):
        RemotePolicy(v2.host, v2.port, session_params={"fps": 30}).new_session({})


@pytest.mark.parametrize("rotation", ["quat", "quat_xyzw", "rotation_matrix", "rotvec", "rot6d"])
def test_v3_raw_output_is_decoded_by_the_declared_stack(v3, rotation):
    # The model turns the observed pose into `rotation` with 0.4.1's own geometry; we must read back the same pose.
    params = None if rotation == "quat" else {"rotation": rotation}
    policy = RemotePolicy(v3.host, v3.port, resize=None, session_params=params)
    obs = guide_observation(3)
    session = policy.new_session({})
    try:
        actions = session.infer(obs)
    finally:
        session.close()
    assert session._session.end_acknowledged is True
    assert policy.meta["protocol_version"] == 3
    assert policy.meta["server.effective_params"] == {"kind": "ee", "rotation": rotation}
    assert_holds_pose(actions, obs)


def test_v3_images_go_as_jpeg_when_the_stack_says_encode_images(v3):
    policy = RemotePolicy(v3.host, v3.port, resize=None, session_params={"kind": "images"})
    obs = guide_observation(4)
    # A one-pixel black and white checkerboard: raw, every pixel is pure; through JPEG, few stay so.
    obs["image.wrist"] = np.repeat((np.indices((48, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None], 3, -1)
    session = policy.new_session({})
    try:
        actions = session.infer(obs)
    finally:
        session.close()
    assert "encode_images v1" in policy.meta["client_stack"]
    # The model saw what 0.4.1's deserialiser decoded from our JPEG.
    assert actions[0].target_grip < 0.9  # raw, it would be 1.0


def test_v3_joint_targets_and_grip_binarized_by_the_declared_stack(v3):
    policy = RemotePolicy(v3.host, v3.port, resize=None, session_params={"kind": "joints"})
    obs = guide_observation(3)
    session = policy.new_session({})
    try:
        actions = session.infer(obs)
    finally:
        session.close()
    assert [a.timestamp for a in actions] == pytest.approx([i / FPS for i in range(CHUNK)])
    for action in actions:
        assert isinstance(action.command, JointPosition)
        np.testing.assert_allclose(action.command.positions, obs["robot_state.q"], atol=1e-6)
        # The stack's binarize_grip_inference: the held grip (0.97 here) becomes fully closed.
        assert obs["grip"] == pytest.approx(0.97, abs=0.01) and action.target_grip == 1.0


def test_sim_records_an_episode_against_each_0_4_1_server(v2, v3, tmp_path):
    runs = {"v2": run_sim(v2, tmp_path / "v2"),
            "v3-joints": run_sim(v3, tmp_path / "v3", "--policy.session_params={'kind': 'joints'}")}
    for name, done in runs.items():
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
    (v2_episode,) = Dataset(tmp_path / "v2")
    assert v2_episode.static["inference.policy.protocol_version"] == 2
    assert v2_episode.static["inference.policy.server.checkpoint_id"] == "hold-v2"
    poses = np.asarray(v2_episode.signal("robot_commands.pose").values)
    observed = np.asarray(v2_episode.signal("robot_state.ee_pose").values)
    assert len(poses) >= 2 * CHUNK
    np.testing.assert_allclose(poses[0][:3], observed[0][:3], atol=1e-3)

    (v3_episode,) = Dataset(tmp_path / "v3")
    assert v3_episode.static["inference.policy.protocol_version"] == 3
    assert v3_episode.static["inference.policy.server.effective_params.kind"] == "joints"
    # What our side ran of the declared stack is recorded beside what the server declared.
    assert v3_episode.static["inference.policy.client_stack"] == [
        "chunked_schedule v3", "binarize_grip_inference v1", "state_observation v1", "absolute_joints_action v1",
        "split_action_chunk v1"]
    assert v3_episode.static["inference.policy.client.action_fps"] == FPS
    joints = np.asarray(v3_episode.signal("robot_commands.joints").values)
    assert len(joints) >= 2 * CHUNK
    np.testing.assert_allclose(joints[0], np.asarray(v3_episode.signal("robot_state.q").values)[0], atol=1e-3)


def test_sim_refuses_an_unsupported_v3_stack_in_one_line_and_records_nothing(v3, tmp_path):
    out = tmp_path / "rec"
    done = run_sim(v3, out, "--policy.session_params={'kind': 'unsupported'}")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "protocol v3" in line and "temporal_stack" in line and "cartesian_delta_action" in line
    assert "does not implement" in line
    assert not out.exists()


def test_validate_server_evaluates_the_one_model_each_server_serves(v2, v3, tmp_path, capsys):
    for server, model in ((v2, "hold-v2"), (v3, "hold-v3")):
        code = validate_server(server.host, server.port, output_dir=str(tmp_path), episodes=1, simulation_time=1,
                               camera_width=96, camera_height=72, resize=None)
        assert code == 0, capsys.readouterr().err
        (episode,) = Dataset(tmp_path / model)
        assert episode.static["inference.policy.server.checkpoint_id"] == model
    out = capsys.readouterr().out
    assert "1 of 1 model completed" in out
    assert validate_server(v2.host, v2.port, output_dir=str(tmp_path), models="7") == 2
    assert "model(s) 7 not served by the policy server" in capsys.readouterr().err


def test_a_token_server_refuses_with_403_and_our_client_says_why(tmp_path, capsys):
    with Upstream04Server("v2", token="s3cret") as server:
        assert validate_server(server.host, server.port, output_dir=str(tmp_path), episodes=1) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "HTTP 404" not in line and "HTTP 403" in line and "missing token" in line
        with pytest.raises(InferenceError, match=r"HTTP 403 .*a wrong token"):
            RemotePolicy(server.host, server.port, token="wrong").new_session({})
        session = RemotePolicy(server.host, server.port, token="s3cret", resize=None).new_session({})
        session.close()
    assert not any(tmp_path.iterdir())
