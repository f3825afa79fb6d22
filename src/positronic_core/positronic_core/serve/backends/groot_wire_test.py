import asyncio
import socket
import subprocess
import sys
import threading
from pathlib import Path

import groot_vendor_stub
import msgpack
import numpy as np
import pytest
import zmq

from positronic_core.serve.backends.groot_wire import GrootClient, GrootTimeoutError, GrootWireError, pack, unpack


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nested_observation(batch: int = 1, pose_dim: int = 7) -> dict:
    return {
        "video": {key: np.zeros((batch, 1, 224, 224, 3), np.uint8) for key in ("wrist_image", "exterior_image_1")},
        "state": {"ee_pose": np.arange(batch * pose_dim, dtype=np.float32).reshape(batch, 1, pose_dim),
                  "grip": np.full((batch, 1, 1), 0.25, np.float32)},
        "language": {groot_vendor_stub.LANGUAGE_KEY: [["stack the cubes"]] * batch},
    }


def test_arrays_travel_as_npy_bytes_under_the_documented_tag():
    image = np.arange(2 * 3 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 3, 4, 5, 3)
    raw = msgpack.unpackb(pack({"video": {"cam": image}, "task": "x"}), raw=False)
    envelope = raw["video"]["cam"]
    assert set(envelope) == {"__ndarray_class__", "as_npy"} and envelope["__ndarray_class__"] is True
    assert envelope["as_npy"].startswith(b"\x93NUMPY")  # the .npy format's magic
    back = unpack(pack({"video": {"cam": image}, "state": np.float32([1.5])}))
    np.testing.assert_array_equal(back["video"]["cam"], image)
    assert back["state"].dtype == np.float32


def test_documents_from_the_stand_in_framing_decode_and_vice_versa():
    state = np.linspace(0, 1, 9, dtype=np.float32).reshape(1, 1, 9)
    ours = unpack(groot_vendor_stub.to_bytes({"ee_pose": state, "info": {}}))
    np.testing.assert_array_equal(ours["ee_pose"], state)
    theirs = groot_vendor_stub.from_bytes(pack({"ee_pose": state}))
    np.testing.assert_array_equal(theirs["ee_pose"], state)


def test_object_arrays_are_refused():
    with pytest.raises(ValueError):
        pack({"bad": np.array([object()], dtype=object)})


def test_a_malformed_array_is_a_wire_error():
    payload = msgpack.packb({"x": {"__ndarray_class__": True, "as_npy": b"not npy"}})
    with pytest.raises(GrootWireError, match="malformed array"):
        unpack(payload)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    model = tmp_path_factory.mktemp("checkpoint-1")
    port = _free_port()
    process = subprocess.Popen([sys.executable, groot_vendor_stub.__file__, "--model_path", str(model),
                                "--modality_config_path", "gr00t/configs/data/positronic_ee.py", "--port", str(port),
                                "--horizon", "4"], stderr=subprocess.DEVNULL)
    client = GrootClient(port, timeout_s=5.0)
    try:
        for _ in range(100):
            if client.ping(timeout_s=0.2):
                break
        else:
            pytest.fail("the stand-in GR00T server did not come up")
        yield client
    finally:
        client.close()
        process.kill()
        process.wait()


def test_ping_get_action_and_reset_against_the_stand_in(stand_in):
    assert stand_in.ping()
    action, info = stand_in.get_action(_nested_observation(batch=2))
    assert info == {}
    assert action["ee_pose"].shape == (2, 4, 7) and action["grip"].shape == (2, 4, 1)
    np.testing.assert_allclose(action["grip"], 0.75)
    assert stand_in.reset() == {}


def test_an_error_reply_raises_with_the_servers_message_and_the_client_goes_on(stand_in):
    observation = _nested_observation()
    observation["state"]["ee_pose"] = observation["state"]["ee_pose"].astype(np.float64)
    with pytest.raises(GrootWireError, match="must be float32"):
        stand_in.get_action(observation)
    assert stand_in.get_action(_nested_observation())[0]["ee_pose"].shape == (1, 4, 7)


class _Router:
    """A server that receives REQ requests and answers only those `answer` lets through."""

    def __init__(self, answer) -> None:
        self.socket = zmq.Context.instance().socket(zmq.ROUTER)
        self.port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.answer = answer
        self.requests: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.socket.poll(50):
                continue
            identity, empty, payload = self.socket.recv_multipart()
            request = unpack(payload)
            self.requests.append(request)
            if self.answer(len(self.requests)):
                self.socket.send_multipart([identity, empty, pack({"status": "ok"})])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close(linger=0)


def test_a_timed_out_request_does_not_wedge_the_client():
    server = _Router(answer=lambda n: n > 1)  # the first request never gets its reply
    client = GrootClient(server.port, timeout_s=0.3)
    try:
        with pytest.raises(GrootTimeoutError, match="did not answer 'ping' within 0.3 s"):
            client.call("ping")
        # A REQ socket still waiting for a reply refuses to send; the client must have replaced it.
        assert client.call("ping") == {"status": "ok"}
        assert [r["endpoint"] for r in server.requests] == ["ping", "ping"]
    finally:
        client.close()
        server.close()


def test_a_dead_server_ends_the_wait_at_once_with_the_reason():
    server = _Router(answer=lambda n: False)
    checks = []

    def liveness():
        checks.append(1)
        return "the GR00T server exited with code 3" if len(checks) > 2 else None

    # The timeout is far away: only the liveness check can end this request.
    client = GrootClient(server.port, timeout_s=600.0, liveness=liveness)
    try:
        with pytest.raises(GrootWireError, match="no reply to 'get_action': the GR00T server exited with code 3"):
            client.get_action(_nested_observation())
    finally:
        client.close()
        server.close()


def test_get_action_awaited_on_an_event_loop_against_the_stand_in(stand_in):
    async def calls():
        action, info = await stand_in.get_action_async(_nested_observation(batch=2))
        observation = _nested_observation()
        observation["state"]["ee_pose"] = observation["state"]["ee_pose"].astype(np.float64)
        with pytest.raises(GrootWireError, match="must be float32"):
            await stand_in.get_action_async(observation)
        again, _ = await stand_in.get_action_async(_nested_observation())
        stand_in.close_async_socket()  # on the loop its socket belongs to
        return action, info, again

    action, info, again = asyncio.run(calls())
    assert info == {} and action["ee_pose"].shape == (2, 4, 7) and again["ee_pose"].shape == (1, 4, 7)
    assert stand_in.ping()  # the blocking socket is untouched


def test_an_awaited_request_times_out_without_wedging_and_a_dead_server_ends_the_wait():
    server = _Router(answer=lambda n: n == 2)  # only the second request gets its reply
    gone: list[str] = []
    client = GrootClient(server.port, timeout_s=0.3, liveness=lambda: gone[0] if gone else None)

    async def calls():
        with pytest.raises(GrootTimeoutError, match="did not answer 'ping' within 0.3 s"):
            await client.call_async("ping")
        assert await client.call_async("ping") == {"status": "ok"}
        gone.append("the GR00T server exited with code 3")
        with pytest.raises(GrootWireError, match="no reply to 'reset': the GR00T server exited with code 3"):
            await client.call_async("reset", timeout_s=600.0)  # only the liveness check can end this one

    try:
        asyncio.run(calls())
    finally:
        client.close()
        server.close()


def test_get_action_refuses_a_reply_of_the_wrong_shape():
    server = _Router(answer=lambda n: True)  # answers {"status": "ok"}, not [action, info]
    client = GrootClient(server.port, timeout_s=5.0)
    try:
        with pytest.raises(GrootWireError, match=r"must answer \[action, info\]"):
            client.get_action(_nested_observation())
    finally:
        client.close()
        server.close()


def test_the_stand_in_refuses_a_missing_model_path(tmp_path: Path):
    done = subprocess.run([sys.executable, groot_vendor_stub.__file__, "--model_path", str(tmp_path / "none"),
                           "--modality_config_path", "x.py", "--port", "1"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "is not a directory" in done.stderr
