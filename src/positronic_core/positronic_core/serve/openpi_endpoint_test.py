"""The openpi-compatible endpoint, driven by openpi's real client (openpi-client's `WebsocketClientPolicy`) over real
sockets: metadata first, (H, D) actions, one model pool with protocol v1, tokens, and errors as openpi reports them."""

import socket
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from positronic_core.models.errors import ModelLoadError
from positronic_core.serve.backends.hold_pose import HoldPoseSource
from positronic_core.serve.server import PolicyServer, ServerConfig, running_server
from positronic_core.wire.client import InferenceClient
from positronic_core.wire.envelope import packb, unpackb

websocket_client_policy = pytest.importorskip(
    "openpi_client.websocket_client_policy", reason="openpi-client (the `dev` extra) is not installed")
WebsocketClientPolicy = websocket_client_policy.WebsocketClientPolicy
# openpi's client opens its socket the way websockets 15 deprecates; that is the client's own business.
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning")

POSE7 = np.array([0.4, 0.1, 0.3, 0.0, 1.0, 0.0, 0.0])
OPENPI_OBS = {
    "observation/state": np.append(POSE7, 0.5).astype(np.float32),
    "observation/image": np.zeros((224, 224, 3), np.uint8),
    "observation/wrist_image": np.zeros((224, 224, 3), np.uint8),
    "prompt": "stack the cubes",
}
STUCK_S = 30.0


def _config(**kwargs):
    return ServerConfig(port=0, openpi_port=0, **kwargs)


def test_openpi_client_gets_metadata_then_an_h_by_d_chunk():
    with running_server(HoldPoseSource(chunk_size=3), _config()) as server:
        client = WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        meta = client.get_server_metadata()
        assert meta["model_id"] == "1" and meta["type"] == "hold_pose"
        assert meta["openpi_layout"] == "ee" and meta["state_dim"] == 8 and "server_version" in meta
        reply = client.infer(OPENPI_OBS)
        actions = reply["actions"]
        assert isinstance(actions, np.ndarray) and actions.shape == (3, 8)
        np.testing.assert_allclose(actions, np.tile(np.append(POSE7, 0.5), (3, 1)), atol=1e-6)
        assert reply["server_timing"]["infer_ms"] > 0 and "prev_total_ms" not in reply["server_timing"]
        assert reply["policy_timing"]["batch_size"] == 1
        assert "prev_total_ms" in client.infer(OPENPI_OBS)["server_timing"]  # as openpi's server reports it


def test_endpoint_is_off_by_default():
    with running_server(HoldPoseSource()) as server:
        assert server.openpi is None


def test_both_wires_share_one_pool_of_models():
    source = HoldPoseSource(["1", "2"])
    with running_server(source, _config()) as server:
        v1 = InferenceClient("127.0.0.1", server.port).new_session()
        openpi = WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        assert openpi.get_server_metadata()["model_id"] == v1.meta["model_id"] == "2"
        openpi.infer(OPENPI_OBS)
        named = WebsocketClientPolicy(f"ws://127.0.0.1:{server.openpi.port}/1")
        assert named.get_server_metadata()["model_id"] == "1"
        v1.close()
    assert source.loads == ["2", "1"]  # each model loaded once, whichever wire asked first


def test_bad_observation_fails_that_request_as_openpi_does_and_the_server_keeps_serving():
    with running_server(HoldPoseSource(), _config()) as server:
        client = WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        with pytest.raises(RuntimeError, match="Error in inference server:\n.*'observation/state' must have 8"):
            client.infer({**OPENPI_OBS, "observation/state": np.zeros(3)})
        with pytest.raises(ConnectionClosed) as closed:  # openpi's server closes after reporting an error
            client.infer(OPENPI_OBS)
        assert closed.value.rcvd.code == 1011
        with pytest.raises(RuntimeError, match="missing 'observation/wrist_image'"):
            WebsocketClientPolicy("127.0.0.1", server.openpi.port).infer(
                {key: value for key, value in OPENPI_OBS.items() if key != "observation/wrist_image"})
        assert WebsocketClientPolicy("127.0.0.1", server.openpi.port).infer(OPENPI_OBS)["actions"].shape == (1, 8)
        assert InferenceClient("127.0.0.1", server.port).new_session().infer(
            {"robot_state.ee_pose": POSE7, "grip": 0.5})


@pytest.mark.parametrize(("frame", "message"), [
    ("a text frame", "binary msgpack"),
    (b"\xc1", "bad frame"),
    (packb([1, 2]), "map with string keys"),
])
def test_malformed_frames_get_a_text_error_then_close_1011(frame, message):
    with running_server(HoldPoseSource(), _config()) as server, \
            connect(f"ws://127.0.0.1:{server.openpi.port}", compression=None, open_timeout=STUCK_S) as ws:
        assert unpackb(ws.recv(timeout=STUCK_S))["model_id"] == "1"
        ws.send(frame)
        error = ws.recv(timeout=STUCK_S)
        assert isinstance(error, str) and message in error
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=STUCK_S)
        assert closed.value.rcvd.code == 1011


def test_unknown_model_closes_1008_naming_the_available_ones():
    with running_server(HoldPoseSource(["5", "7"]), _config()) as server:
        with pytest.raises(ConnectionClosed) as closed:
            WebsocketClientPolicy(f"ws://127.0.0.1:{server.openpi.port}/9")
    assert closed.value.rcvd.code == 1008 and "'9' not found; available: 5, 7" in closed.value.rcvd.reason


def test_failed_load_closes_1011_with_the_reason():
    class BrokenSource(HoldPoseSource):
        def load(self, model_id, progress):
            raise ModelLoadError("config.json is missing")

    with running_server(BrokenSource(), _config()) as server:
        with pytest.raises(ConnectionClosed) as closed:
            WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        assert closed.value.rcvd.code == 1011 and "config.json is missing" in closed.value.rcvd.reason


def test_token_guards_the_endpoint_as_api_key_or_bearer_and_healthz_stays_open():
    with running_server(HoldPoseSource(), _config(auth_token="s3cret")) as server:
        port = server.openpi.port
        with pytest.raises(InvalidStatus) as refused:
            WebsocketClientPolicy("127.0.0.1", port)
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            WebsocketClientPolicy("127.0.0.1", port, api_key="wrong")
        assert WebsocketClientPolicy("127.0.0.1", port, api_key="s3cret").infer(OPENPI_OBS)["actions"].shape == (1, 8)
        with connect(f"ws://127.0.0.1:{port}", additional_headers={"Authorization": "Bearer s3cret"},
                     open_timeout=STUCK_S) as ws:
            assert unpackb(ws.recv(timeout=STUCK_S))["model_id"] == "1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=STUCK_S) as response:
            assert response.read() == b"OK\n"


def test_endpoint_obeys_the_bind_rule_of_the_v1_server():
    from positronic_core.wire.access_token import TokenConfigError

    with pytest.raises(TokenConfigError, match="without a token"):
        PolicyServer(HoldPoseSource(), ServerConfig(host="0.0.0.0", port=0, openpi_port=0))


def test_openpi_port_must_differ_from_the_v1_port():
    with pytest.raises(ValueError, match="port of its own"):
        PolicyServer(HoldPoseSource(), ServerConfig(port=8123, openpi_port=8123))


def test_taken_openpi_port_is_a_bind_error_and_frees_the_v1_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            v1_port = probe.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{taken}: the port is already in use"):
            with running_server(HoldPoseSource(), ServerConfig(port=v1_port, openpi_port=taken)):
                pass
    with socket.socket() as again:
        again.bind(("127.0.0.1", v1_port))  # the v1 listener that did start was closed again
