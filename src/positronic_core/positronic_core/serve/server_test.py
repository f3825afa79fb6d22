"""The policy server over real sockets: routes, handshake frames, error replies, limits, auth, concurrency."""

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import msgpack
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.serve import model_pool
from positronic_core.serve.backends.hold_pose import HoldPoseModel, HoldPoseSource
from positronic_core.serve.checkpoint_source import CheckpointSource
from positronic_core.serve.server import BindError, PolicyServer, ServerConfig, running_server
from positronic_core.wire import messages
from positronic_core.wire.access_token import TokenConfigError
from positronic_core.wire.client import InferenceClient, InferenceError
from positronic_core.wire.envelope import packb, unpackb

# A bound for waits that succeed at once unless the code is broken: it turns a hang into a failure.
STUCK_S = 30.0

OBS = {
    "robot_state.ee_pose": np.array([0.4, 0.1, 0.3, 0.0, 1.0, 0.0, 0.0]),
    "grip": np.float32(0.5),
    "image.wrist": np.zeros((224, 224, 3), np.uint8),
    "task": "stack",
}


def _raw(port, path="/api/v1/session", **kwargs):
    return connect(f"ws://127.0.0.1:{port}{path}", compression=None, legacy=True, **kwargs)


def test_models_route_returns_json_ids_in_numeric_order():
    with running_server(HoldPoseSource(["2", "10", "300"])) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/models") as response:
            assert response.headers["Content-Type"] == "application/json"
            assert json.load(response) == {"models": ["2", "10", "300"]}


def test_unknown_route_is_404():
    with running_server(HoldPoseSource()) as server:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v2/models")
        assert e.value.code == 404
        e.value.close()  # an open response would hold the server's shutdown for its 10 s close timeout


def test_handshake_and_reply_frames_are_binary_msgpack_with_the_v1_shapes():
    with running_server(HoldPoseSource(chunk_size=3)) as server, _raw(server.port) as ws:
        ready = ws.recv()
        assert isinstance(ready, bytes)
        ready = msgpack.unpackb(ready)
        assert ready["status"] == "ready"
        meta = ready["meta"]
        assert meta["model_id"] == "1" and meta["type"] == "hold_pose" and "server_version" in meta
        ws.send(packb(OBS))
        reply = ws.recv()
        assert isinstance(reply, bytes)
        reply = unpackb(reply)  # command vectors are ndarray envelopes, as upstream servers send them
        assert set(reply) == {"result", "timing"}
        assert len(reply["result"]) == 3
        first = reply["result"][0]
        assert set(first) == {"robot_command", "target_grip", "timestamp"}
        assert first["robot_command"]["type"] == "cartesian_pos" and len(first["robot_command"]["pose"]) == 12
        np.testing.assert_allclose(first["robot_command"]["pose"][:3], [0.4, 0.1, 0.3])
        # qw=0, qx=1: a half turn about x, row-major
        np.testing.assert_allclose(first["robot_command"]["pose"][3:], [1, 0, 0, 0, -1, 0, 0, 0, -1], atol=1e-12)
        assert first["target_grip"] == pytest.approx(0.5)
        assert [a["timestamp"] for a in reply["result"]] == pytest.approx([0, 1 / 15, 2 / 15])
        assert set(reply["timing"]) >= {"queue_ms", "model_ms", "decode_ms", "encode_ms", "batch_size"}


def test_named_session_and_default_is_latest_resolved_per_connection():
    source = HoldPoseSource(["1", "2"])
    with running_server(source) as server:
        client = InferenceClient("127.0.0.1", server.port)
        assert client.new_session().meta["model_id"] == "2"
        assert client.new_session("1").meta["model_id"] == "1"
        source.model_ids.append("3")
        assert client.new_session().meta["model_id"] == "3"


def test_unknown_model_gets_error_status_naming_id_and_available_then_1008():
    with running_server(HoldPoseSource(["5", "7"])) as server, _raw(server.port, "/api/v1/session/9") as ws:
        message = unpackb(ws.recv())
        assert message["status"] == "error"
        assert "'9'" in message["error"] and "5, 7" in message["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1008


def test_unknown_checkpoint_close_reason_keeps_the_available_ids(tmp_path):
    """The close reason holds 123 bytes; a long checkpoints path must not push the ids out of it."""
    root = tmp_path / ("a-long-checkpoints-directory-name-" * 4)
    for step in ("001000", "002000"):
        (root / step / "pretrained_model").mkdir(parents=True)

    def never_load(path, progress):
        raise AssertionError("an unknown id must be refused before anything loads")

    with running_server(CheckpointSource(CheckpointRegistry(root), never_load)) as server, \
            _raw(server.port, "/api/v1/session/9") as ws:
        message = unpackb(ws.recv())
        assert message["status"] == "error" and str(root) in message["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd.code == 1008
    assert "'9' not found; available: 001000, 002000" in closed.value.rcvd.reason


def test_client_error_names_host_port_and_model():
    with running_server(HoldPoseSource(["5"])) as server:
        with pytest.raises(InferenceError, match=rf"127\.0\.0\.1:{server.port}.*model 9.*'9' not found"):
            InferenceClient("127.0.0.1", server.port).new_session("9")


def test_error_reply_keeps_session_open():
    with running_server(HoldPoseSource()) as server, _raw(server.port) as ws:
        ws.recv()
        ws.send(packb({"robot_state.ee_pose": np.zeros(3)}))
        bad = unpackb(ws.recv())
        assert set(bad) == {"error"} and "7 values" in bad["error"]
        ws.send("text frame")
        assert "binary" in unpackb(ws.recv())["error"]
        ws.send(b"\xc1")
        assert "bad frame" in unpackb(ws.recv())["error"]
        ws.send(packb([1, 2]))
        assert "map" in unpackb(ws.recv())["error"]
        ws.send(packb(OBS))
        assert "result" in unpackb(ws.recv())


def test_oversize_frame_closes_with_1009():
    config = ServerConfig(port=0, max_frame_bytes=1024)
    with running_server(HoldPoseSource(), config) as server, _raw(server.port) as ws:
        ws.recv()
        ws.send(packb({"image.wrist": np.zeros((64, 64, 3), np.uint8)}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1009


def test_loading_messages_are_sent_while_a_model_loads(monkeypatch):
    monkeypatch.setattr(model_pool, "PROGRESS_INTERVAL_S", 0.01)
    sent, three_sent, build = [], threading.Event(), messages.loading

    def loading(message):  # the server builds each progress message just before sending it
        sent.append(message)
        if sent.count("reading weights") >= 3:
            three_sent.set()
        return build(message)

    monkeypatch.setattr(messages, "loading", loading)

    class SlowSource(HoldPoseSource):
        def load(self, model_id, progress):
            progress("reading weights")
            assert three_sent.wait(STUCK_S), "no progress messages while loading"
            return super().load(model_id, progress)

    with running_server(SlowSource()) as server:
        session = InferenceClient("127.0.0.1", server.port).new_session()
        assert len(session.statuses) >= 3
        assert {s["status"] for s in session.statuses} == {"loading"}
        assert session.statuses[-1]["message"] == "reading weights"


def test_failed_load_refuses_with_1008():
    class BrokenSource(HoldPoseSource):
        def load(self, model_id, progress):
            raise OSError("model.safetensors is truncated")

    with running_server(BrokenSource()) as server, _raw(server.port) as ws:
        message = unpackb(ws.recv())
        assert message["status"] == "error" and "truncated" in message["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd.code == 1008


def test_permessage_deflate_is_declined():
    with running_server(HoldPoseSource()) as server:
        with connect(f"ws://127.0.0.1:{server.port}/api/v1/session") as ws:  # offers deflate by default
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None


def test_binding_beyond_loopback_needs_a_token_or_insecure():
    with pytest.raises(TokenConfigError, match="--auth_token"):
        PolicyServer(HoldPoseSource(), ServerConfig(host="0.0.0.0"))
    PolicyServer(HoldPoseSource(), ServerConfig(host="0.0.0.0", insecure=True))
    PolicyServer(HoldPoseSource(), ServerConfig(host="0.0.0.0", auth_token="s3cret"))


def test_an_address_the_server_cannot_listen_on_is_one_error_naming_it():
    async def start(host):
        await PolicyServer(HoldPoseSource(), ServerConfig(host=host, port=0, insecure=True)).start()

    with pytest.raises(BindError, match=r"^cannot listen on 192\.0\.2\.1:0: Cannot assign requested address$"):
        asyncio.run(start("192.0.2.1"))  # TEST-NET-1: never this machine's
    with pytest.raises(BindError, match=r"^cannot listen on no-such-host\.invalid:0: "):
        asyncio.run(start("no-such-host.invalid"))


def test_token_is_required_on_http_and_websocket():
    config = ServerConfig(port=0, auth_token="s3cret")
    with running_server(HoldPoseSource(), config) as server:
        url = f"http://127.0.0.1:{server.port}/api/v1/models"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert e.value.code == 401
        e.value.close()  # an open response would hold the server's shutdown for its 10 s close timeout
        wrong = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(wrong)
        e.value.close()
        with pytest.raises(InvalidStatus) as refused:
            _raw(server.port)
        assert refused.value.response.status_code == 401
        with pytest.raises(InferenceError, match="HTTP 401.*token"):
            InferenceClient("127.0.0.1", server.port).new_session()
        client = InferenceClient("127.0.0.1", server.port, token="s3cret")
        assert client.list_models() == ["1"]
        assert client.new_session().infer(OBS)


def _http(port: int, path: str, method: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=STUCK_S) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        with e:  # an open response would hold the server's shutdown for its 10 s close timeout
            return e.code, dict(e.headers), e.read()


def test_root_upgrade_is_403_for_upstream_04_probes_even_before_the_token():
    with running_server(HoldPoseSource(), ServerConfig(port=0, auth_token="s3cret")) as server:
        with pytest.raises(InvalidStatus) as refused:
            _raw(server.port, path="/")
        assert refused.value.response.status_code == 403
        # Only the upgrade: a plain request on / is still no route.
        assert _http(server.port, "/", "GET")[0] == 404


def test_keepalive_is_a_post_answering_no_idle_timeout_behind_the_token():
    with running_server(HoldPoseSource(), ServerConfig(port=0, auth_token="s3cret")) as server:
        status, headers, body = _http(server.port, messages.KEEPALIVE_PATH, "POST", "s3cret")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"alive_seconds": None}
        status, headers, _ = _http(server.port, messages.KEEPALIVE_PATH, "POST")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        status, headers, _ = _http(server.port, messages.KEEPALIVE_PATH, "GET", "s3cret")
        assert status == 405 and headers["Allow"] == "POST"


def test_ready_meta_declares_the_chunked_schedule_for_upstream_04_clients():
    with running_server(HoldPoseSource(chunk_size=3)) as server, _raw(server.port) as ws:
        meta = msgpack.unpackb(ws.recv())["meta"]
        assert meta["local_stack"] == {"seq": [{"name": "stop_on_fault", "version": 1},
                                               {"name": "chunked_schedule", "version": 1}]}
        # 0.4.x rebuilds that schedule at this rate, which must be the spacing of our chunks' timestamps.
        assert meta["action_fps"] == 15.0
        ws.send(packb(OBS))
        stamps = [a["timestamp"] for a in unpackb(ws.recv())["result"]]
        assert stamps == pytest.approx([i / meta["action_fps"] for i in range(3)])


class GatedHoldPose(HoldPoseModel):
    """Holds its first forward pass until `gate` opens, so the test decides who arrives while the model is busy."""

    def __init__(self, **kwargs):
        super().__init__(latency_s=0.001, **kwargs)  # any latency makes it run on the model thread
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batch_sizes = []

    def infer_batch(self, observations):
        self.batch_sizes.append(len(observations))
        self.entered.set()
        assert self.gate.wait(STUCK_S), "the test never opened the gate"
        return super().infer_batch(observations)


def test_sessions_waiting_on_a_busy_model_share_its_next_pass():
    model = GatedHoldPose()

    class GatedSource(HoldPoseSource):
        def load(self, model_id, progress):
            return model

    with running_server(GatedSource()) as server:
        client = InferenceClient("127.0.0.1", server.port, infer_timeout=STUCK_S)
        sessions = [client.new_session() for _ in range(4)]
        timings, errors = [], []

        def robot(session):
            try:
                session.infer(OBS)
                timings.append(session.last_timing["batch_size"])
            except Exception as e:  # surfaced below
                errors.append(e)

        first = threading.Thread(target=robot, args=(sessions[0],))
        first.start()
        assert model.entered.wait(STUCK_S)
        others = [threading.Thread(target=robot, args=(s,)) for s in sessions[1:]]
        for t in others:
            t.start()
        executor = server.pool._loaded["1"].executor
        deadline = time.monotonic() + STUCK_S
        while executor._queue.qsize() < 3:  # the three others are queued behind the busy model
            assert time.monotonic() < deadline, "the other sessions' requests never reached the model's queue"
            time.sleep(0.01)
        model.gate.set()
        for t in [first, *others]:
            t.join()
        for session in sessions:
            session.close()
    assert not errors
    assert model.batch_sizes == [1, 3]
    assert sorted(timings) == [1, 3, 3, 3]


def test_a_stalled_session_delays_nobody():
    with running_server(HoldPoseSource(latency_s=0.01, chunk_size=2)) as server:
        stalled = _raw(server.port)
        stalled.recv()
        stalled.socket.sendall(b"\x82\x7f")  # a frame header that never gets its payload

        replies, errors = [], []

        def robot():
            try:
                with InferenceClient("127.0.0.1", server.port, infer_timeout=STUCK_S).new_session() as s:
                    for _ in range(3):
                        replies.append(s.infer(OBS))
            except Exception as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=robot) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stalled.close()
    assert not errors
    assert len(replies) == 12


def test_batching_off_runs_one_observation_per_pass():
    source = HoldPoseSource(latency_s=0.05)
    with running_server(source, ServerConfig(port=0, batching=False)) as server:
        sizes = []

        def robot():
            with InferenceClient("127.0.0.1", server.port).new_session() as s:
                for _ in range(3):
                    s.infer(OBS)
                    sizes.append(s.last_timing["batch_size"])

        threads = [threading.Thread(target=robot) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sizes == [1] * 9


def test_models_beyond_the_budget_are_unloaded_once_idle():
    source = HoldPoseSource(["1", "2", "3"])
    with running_server(source, ServerConfig(port=0, max_loaded_models=1)) as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session("1") as first:
            with client.new_session("2") as second:  # both in use: the budget is exceeded, nobody is evicted
                assert first.infer(OBS) and second.infer(OBS)
                assert set(server.pool._loaded) == {"1", "2"}
        with client.new_session("3") as third:
            assert third.infer(OBS)
            assert set(server.pool._loaded) == {"3"}
        assert source.loads == ["1", "2", "3"]


def _health(port, token=None):
    """(HTTP status, JSON body) of GET /api/v1/health."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=STUCK_S) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.load(e)


def test_health_is_ready_at_once_without_preload_and_needs_no_token():
    with running_server(HoldPoseSource(), ServerConfig(port=0, auth_token="s3cret")) as server:
        assert _health(server.port) == (200, {"status": "ready"})


def _health_until(port, done, token=None):
    deadline = time.monotonic() + STUCK_S
    while not done(health := _health(port, token)):
        assert time.monotonic() < deadline, f"health stayed {health}"
        time.sleep(0.01)
    return health


def test_preload_reports_loading_with_its_progress_then_ready_with_the_model_loaded_once(monkeypatch):
    monkeypatch.setattr(model_pool, "PROGRESS_INTERVAL_S", 0.01)
    release = threading.Event()

    class SlowSource(HoldPoseSource):
        def load(self, model_id, progress):
            progress("reading weights")
            assert release.wait(STUCK_S), "the test never released the load"
            return super().load(model_id, progress)

    source = SlowSource(["1", "2"])
    with running_server(source, ServerConfig(port=0, preload=True)) as server:
        # The loader's own words reach the health answer, as they reach a waiting session.
        assert _health_until(server.port, lambda h: h[1].get("message") == "reading weights") == (
            503, {"status": "loading", "message": "reading weights"})
        release.set()
        assert _health_until(server.port, lambda h: h[0] != 503) == (200, {"status": "ready"})
        # A session gets the preloaded model without loading it again.
        with InferenceClient("127.0.0.1", server.port).new_session() as session:
            assert session.statuses == [] and session.meta["model_id"] == "2"
        assert source.loads == ["2"]


def test_failed_preload_is_an_error_whose_reason_only_a_token_holder_reads():
    class BrokenSource(HoldPoseSource):
        def load(self, model_id, progress):
            raise OSError("model.safetensors is truncated")

    config = ServerConfig(port=0, preload=True, auth_token="s3cret")
    with running_server(BrokenSource(), config) as server:
        assert _health_until(server.port, lambda h: h[1]["status"] != "loading") == (503, {"status": "error"})
        status, body = _health(server.port, token="s3cret")
        assert status == 503 and "truncated" in body["message"]


def test_health_is_an_error_while_the_checkpoints_directory_lists_nothing(tmp_path):
    source = CheckpointSource(CheckpointRegistry(tmp_path), lambda path, progress: HoldPoseModel())
    with running_server(source) as server:
        assert _health(server.port) == (503, {"status": "error", "message": "no models to serve"})
        (tmp_path / "000100" / "pretrained_model").mkdir(parents=True)
        assert _health(server.port) == (200, {"status": "ready"})
