"""openpi's own client (openpi-client's `WebsocketClientPolicy`) drives a real LeRobot ACT checkpoint through our
server: the same chunk as protocol v1 gives for the same observation, in-process and from the command line as the
docker images start it (bound to 0.0.0.0 behind a token)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_act import CHUNK_SIZE, make_observation, make_tiny_act_checkpoint

from positronic_core.codecs import get_codec
from positronic_core.geometry import pose12_to_pose7
from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.models.lerobot_act import load_act_checkpoint
from positronic_core.serve.checkpoint_source import CheckpointSource
from positronic_core.serve.server import ServerConfig, running_server
from positronic_core.wire.client import InferenceClient

websocket_client_policy = pytest.importorskip(
    "openpi_client.websocket_client_policy", reason="openpi-client (the `dev` extra) is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")

BIN = Path(sys.executable).parent
STUCK_S = 120


def _openpi_obs(observation, state_keys):
    state = np.concatenate([np.asarray(observation[key], np.float32).reshape(-1) for key in state_keys])
    return {"observation/state": state, "observation/image": observation["image.exterior"],
            "observation/wrist_image": observation["image.wrist"], "prompt": observation["task"]}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    roots = {}
    for codec in ("ee", "joints"):
        roots[codec] = tmp_path_factory.mktemp(f"act_{codec}")
        make_tiny_act_checkpoint(roots[codec], codec=codec, step=1000)
    return roots


def _source(root, codec):
    codec = get_codec(codec)
    return CheckpointSource(CheckpointRegistry(root), lambda path, progress: load_act_checkpoint(path, codec))


def test_ee_act_chunk_matches_protocol_v1(checkpoints):
    observation = make_observation(seed=3)
    with running_server(_source(checkpoints["ee"], "ee"), ServerConfig(port=0, openpi_port=0)) as server:
        client = websocket_client_policy.WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        meta = client.get_server_metadata()
        assert meta["type"] == "act" and meta["model_id"] == "001000" and meta["action_fps"] == 15.0
        rows = client.infer(_openpi_obs(observation, ("robot_state.ee_pose", "grip")))["actions"]
        v1 = InferenceClient("127.0.0.1", server.port).new_session().infer(observation)
    assert rows.shape == (CHUNK_SIZE, 8)
    expected = np.array([np.append(pose12_to_pose7(a["robot_command"]["pose"]), a["target_grip"]) for a in v1])
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-5)


def test_joints_act_with_the_joints_layout(checkpoints):
    observation = make_observation(seed=4)
    config = ServerConfig(port=0, openpi_port=0, openpi_layout="joints")
    with running_server(_source(checkpoints["joints"], "joints"), config) as server:
        client = websocket_client_policy.WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        rows = client.infer(_openpi_obs(observation, ("robot_state.q", "grip")))["actions"]
        v1 = InferenceClient("127.0.0.1", server.port).new_session().infer(observation)
    expected = np.array([np.append(a["robot_command"]["positions"], a["target_grip"]) for a in v1])
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-5)


def test_command_line_server_on_all_interfaces_behind_a_token(checkpoints):
    """The docker images' entry point: --host=0.0.0.0 with $POSITRONIC_AUTH_TOKEN."""
    env = {**os.environ, "POSITRONIC_AUTH_TOKEN": "docker-s3cret"}
    server = subprocess.Popen(
        [str(BIN / "positronic-policy-server"), "--backend=lerobot", "--host=0.0.0.0", "--port=0", "--openpi_port=0",
         f"--checkpoints_dir={checkpoints['ee']}", "--codec=ee"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        ports = {}
        for _ in range(2):
            line = server.stdout.readline()
            assert line, server.stderr.read()[-3000:]
            ports["v1" if "/api/v1/models" in line else "openpi"] = int(re.search(r"0\.0\.0\.0:(\d+)", line)[1])
        with pytest.raises(Exception, match="401"):
            websocket_client_policy.WebsocketClientPolicy("127.0.0.1", ports["openpi"])
        client = websocket_client_policy.WebsocketClientPolicy("127.0.0.1", ports["openpi"], api_key="docker-s3cret")
        observation = make_observation(seed=5)
        rows = client.infer(_openpi_obs(observation, ("robot_state.ee_pose", "grip")))["actions"]
        assert rows.shape == (CHUNK_SIZE, 8) and np.all(np.isfinite(rows))
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=STUCK_S)
    assert server.returncode == 0
