"""openpi's own client (openpi-client's `WebsocketClientPolicy`) through our openpi endpoint to the vendor backends,
each against its stand-in vendor server as a real child process: the same chunk as protocol v1 gives."""

import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_act import make_observation

from positronic_core.codecs import get_codec
from positronic_core.codecs.groot import get_variant
from positronic_core.geometry import pose12_to_pose7
from positronic_core.serve import vendor_process
from positronic_core.serve.backends.groot import default_vendor_command, groot_source
from positronic_core.serve.backends.openpi import openpi_source
from positronic_core.serve.server import ServerConfig, running_server
from positronic_core.wire.client import InferenceClient

websocket_client_policy = pytest.importorskip(
    "openpi_client.websocket_client_policy", reason="openpi-client (the `dev` extra) is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")

SUPPORT = Path(__file__).resolve().parents[1] / "support"
STUCK_S = 60.0


@pytest.fixture(autouse=True)
def _no_vendor_left():
    yield
    leftover = vendor_process.running()
    vendor_process.stop_all()
    assert not leftover, "a test left vendor servers running"


def _openpi_obs(observation, state_keys):
    state = np.concatenate([np.asarray(observation[key], np.float32).reshape(-1) for key in state_keys])
    return {"observation/state": state, "observation/image": observation["image.exterior"],
            "observation/wrist_image": observation["image.wrist"], "prompt": observation["task"]}


def _rows_and_v1(source, layout, state_keys):
    observation = make_observation(seed=7)
    with running_server(source, ServerConfig(port=0, openpi_port=0, openpi_layout=layout)) as server:
        client = websocket_client_policy.WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        meta = client.get_server_metadata()
        rows = client.infer(_openpi_obs(observation, state_keys))["actions"]
        client._ws.close()  # the client has no close(); its socket is its only resource
        v1 = InferenceClient("127.0.0.1", server.port, infer_timeout=STUCK_S).new_session()
        actions = v1.infer(observation)
        v1.close()
    expected = np.array([np.append(pose12_to_pose7(a["robot_command"]["pose"]), a["target_grip"]) for a in actions])
    return meta, rows, expected


def test_groot_backend_with_the_ee_joints_layout(tmp_path):
    (tmp_path / "run" / "checkpoint-100").mkdir(parents=True)
    variant = get_variant("ee_rot6d_joints")
    default = shlex.split(default_vendor_command(variant))
    stand_in = shlex.join([sys.executable, str(SUPPORT / "groot_vendor_stub.py"), *default[2:], "--horizon=4"])
    source = groot_source(tmp_path / "run", variant, command=stand_in, cwd=tmp_path, start_timeout_s=STUCK_S)
    meta, rows, expected = _rows_and_v1(source, "ee_joints", ("robot_state.ee_pose", "grip", "robot_state.q"))
    assert meta["type"] == "groot" and meta["model_id"] == "100" and meta["openpi_layout"] == "ee_joints"
    assert rows.shape == (4, 8)
    np.testing.assert_allclose(rows, expected, atol=1e-5)


def test_openpi_backend_relayed_to_an_openpi_client(tmp_path):
    (tmp_path / "run" / "1000" / "params").mkdir(parents=True)
    stand_in = shlex.join([sys.executable, str(SUPPORT / "openpi_stand_in.py"), "--horizon=5"]) + \
        " --port {port} --policy.dir {checkpoint_dir}"
    source = openpi_source(tmp_path / "run", get_codec("ee"), command=stand_in, cwd=None, start_timeout_s=STUCK_S)
    meta, rows, expected = _rows_and_v1(source, "ee", ("robot_state.ee_pose", "grip"))
    assert meta["type"] == "openpi" and meta["model_id"] == "1000"
    assert rows.shape == (5, 8)
    np.testing.assert_allclose(rows, expected, atol=1e-5)
