"""Malformed frames against a live policy server, with a well-behaved robot session running alongside.

Contract (ARCHITECTURE.md §4, "safe by default"): every bad frame gets an `{"error": ...}` reply or a 1008/1009
close, never a crash; the server stays up; other sessions keep getting correct answers. Here that is sharpened:
a frame within `max_frame_bytes` must get an error reply *and leave the session open*, and only an oversize frame
may close it, with 1009.

The bulk run is a seeded generator (reproducible: the failing frame's index, category and seed are in the
message; set POSITRONIC_FUZZ_SEED / POSITRONIC_FUZZ_FRAMES to explore). A smaller hypothesis run throws arbitrary
msgpack documents, where the only promise is an answer (result or error) and a live server.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.serve.backends.hold_pose import HoldPoseSource
from positronic_core.serve.server import ServerConfig, running_server
from positronic_core.wire.client import InferenceClient
from positronic_core.wire.envelope import packb

MAX_FRAME = 64 * 1024
SEED = int(os.environ.get("POSITRONIC_FUZZ_SEED", "20260401"))
FRAMES = int(os.environ.get("POSITRONIC_FUZZ_FRAMES", "6000"))
REPLY_TIMEOUT_S = 10.0

_ND = b"__ndarray__"
_NPG = b"__npgeneric__"
_REFUSED_DTYPES = ["|O", "|V8", "<c8", "<c16", "|V0", "(2,)i4", "i4,f8", "<V4", "G", "D", "object", "void"]
# numpy parses sub-array shapes with ast.literal_eval; these make it raise SyntaxError, not TypeError/ValueError.
_NUMPY_PARSER_TRAPS = ["(1e100,)i4", "(a,)i4", "(1,", "(" * 300 + "1,)i4", "(99999999999,)i4", "(-1,)i4",
                       "S" + "9" * 30]


def _valid_ee_pose(rng: random.Random) -> list[float]:
    quat = np.array([rng.gauss(0, 1) for _ in range(4)])
    quat /= np.linalg.norm(quat)
    return [rng.uniform(0.2, 0.7) for _ in range(3)] + quat.tolist()


def _envelope(dtype: object, shape: object, data: object, **extra: object) -> dict:
    env = {_ND: True, b"dtype": dtype, b"shape": shape, b"data": data}
    env.update({k.encode(): v for k, v in extra.items()})
    return env


def _raw(obj: object) -> bytes:
    """msgpack without our encoder, so the document can break every rule our encoder enforces."""
    return msgpack.packb(obj, use_bin_type=True)


class MalformedFrames:
    """Seeded malformed frames by category; each method returns bytes (binary frame) or str (text frame)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.categories: list[tuple[str, Callable[[], bytes | str], int]] = [
            ("random_bytes", self.random_bytes, 14),
            ("msgpack_not_a_map", self.msgpack_not_a_map, 8),
            ("non_string_keys", self.non_string_keys, 6),
            ("wrong_value_types", self.wrong_value_types, 12),
            ("lying_shape", self.lying_shape, 10),
            ("bad_dtype", self.bad_dtype, 10),
            ("bad_envelope_fields", self.bad_envelope_fields, 8),
            ("bad_numpy_scalar", self.bad_numpy_scalar, 5),
            ("huge_declared_shape", self.huge_declared_shape, 6),
            ("deep_nesting", self.deep_nesting, 5),
            ("truncated_or_trailing", self.truncated_or_trailing, 6),
            ("text_frame", self.text_frame, 6),
            ("oversize", self.oversize, 4),
        ]
        self._names = [name for name, _, _ in self.categories]
        self._weights = [weight for _, _, weight in self.categories]
        self._makers = {name: make for name, make, _ in self.categories}

    def next(self) -> tuple[str, bytes | str]:
        name = self.rng.choices(self._names, self._weights)[0]
        return name, self._makers[name]()

    def _bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    def _key(self) -> str:
        return self.rng.choice(["robot_state.ee_pose", "image.wrist", "image.exterior", "robot_state.q", "x", ""])

    def random_bytes(self) -> bytes:
        frame = self._bytes(int(self.rng.expovariate(1 / 200)))
        try:
            doc = msgpack.unpackb(frame, strict_map_key=False)
        except Exception:
            return frame
        if isinstance(doc, dict):
            # e.g. b"\x80" is {}, a valid (empty) observation; 0xc1 is never valid msgpack.
            return b"\xc1" + frame
        return frame

    def msgpack_not_a_map(self) -> bytes:
        r = self.rng
        return _raw(r.choice([
            None, True, r.randint(-2**63, 2**64 - 1), r.random() * 1e300, "observation", self._bytes(r.randint(0, 64)),
            [r.random() for _ in range(r.randint(0, 20))], [{"robot_state.ee_pose": _valid_ee_pose(r)}],
            msgpack.ExtType(r.randint(0, 127), self._bytes(8)),
        ]))

    def non_string_keys(self) -> bytes:
        r = self.rng
        doc: dict = {"robot_state.ee_pose": _valid_ee_pose(r), "grip": 0.5}
        doc[r.choice([r.randint(-10**6, 10**6), self._bytes(r.randint(1, 12)), 1.5, True, None])] = r.random()
        return _raw(doc)

    def wrong_value_types(self) -> bytes:
        r = self.rng
        bad_pose = r.choice([
            [r.random() for _ in range(r.choice([0, 1, 3, 6, 8, 12]))],
            "0.5 0.0 0.5 1 0 0 0",
            {"x": 0.5},
            ["pose"] * 7,
            [[v] * 2 for v in _valid_ee_pose(r)],
            None,
            _valid_ee_pose(r)[:3] + [float("nan")] * 4,
            _valid_ee_pose(r)[:6] + [float("inf")],
            _envelope("<f8", [6], self._bytes(48)),
            _envelope("<f4", [7, 1, 2], np.zeros(14, np.float32).tobytes()),
            msgpack.ExtType(1, b"\x00" * 7),
        ])
        if r.random() < 0.3:
            return _raw({"robot_state.ee_pose": _valid_ee_pose(r), "grip": r.choice(["open", {}, [], [[]]])})
        return _raw({"robot_state.ee_pose": bad_pose, "grip": r.random(), "task": "stack"})

    def lying_shape(self) -> bytes:
        r = self.rng
        dtype = r.choice(["|u1", "<f4", "<f8", "<i8", ">i2", "|b1"])
        shape = [r.randint(0, 40) for _ in range(r.randint(0, 4))]
        need = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        size = max(0, need + r.choice([-1, 1, -need, 7, need + 1, -(need // 2) or 3]))
        if size == need:
            size += 1
        return _raw({self._key(): _envelope(dtype, shape, self._bytes(min(size, 40_000))), "task": "t"})

    def bad_dtype(self) -> bytes:
        r = self.rng
        choice = r.random()
        if choice < 0.4:
            dtype: object = r.choice(_REFUSED_DTYPES + _NUMPY_PARSER_TRAPS)
        elif choice < 0.7:
            dtype = "".join(r.choice("<>|=()[],.:0123456789SUVOcfiubMmTaxyz _") for _ in range(r.randint(0, 24)))
            try:
                if np.dtype(dtype).kind not in "VOc":
                    dtype = "#" + dtype  # numpy accepted it: make it unparseable
            except Exception:
                pass
        elif choice < 0.85:
            dtype = r.choice([None, 4, 1.5, ["<f4"], {"a": 1}, b"<f4", True])
        else:
            dtype = "<f4" * r.randint(20, 3000)  # far longer than any dtype.str
        itemsize = 8
        return _raw({self._key(): _envelope(dtype, [2], self._bytes(2 * itemsize))})

    def bad_envelope_fields(self) -> bytes:
        r = self.rng
        env = _envelope("<f8", [7], np.zeros(7).tobytes())
        kind = r.randrange(6)
        if kind == 0:
            del env[r.choice([b"dtype", b"shape", b"data"])]
        elif kind == 1:
            env[b"shape"] = r.choice(["7", {"a": 7}, 7, None, [7.0], [True] * 7, [-7], [[7]], ["7"]])
        elif kind == 2:
            env[b"data"] = r.choice(["\x00" * 56, [0] * 56, 56, None, {"b": b"\x00" * 56}])
        elif kind == 3:
            env = {_ND: True}
        elif kind == 4:
            env[b"shape"] = [-1, -7]
        else:
            env[b"shape"] = [2**64 - 1]
        return _raw({"robot_state.ee_pose": env, "grip": 0.1})

    def bad_numpy_scalar(self) -> bytes:
        r = self.rng
        scalar = r.choice([
            {_NPG: True, b"dtype": "<f8", b"data": "not a number"},
            {_NPG: True, b"dtype": "<i4", b"data": 2**40},
            {_NPG: True, b"dtype": "|u1", b"data": -1},
            {_NPG: True, b"dtype": "<c16", b"data": 1.0},
            {_NPG: True, b"dtype": "|O", b"data": 1},
            {_NPG: True, b"dtype": r.choice(_NUMPY_PARSER_TRAPS), b"data": 1},
            {_NPG: True, b"dtype": 17, b"data": 1},
            {_NPG: True, b"dtype": "<M8", b"data": 5},
        ])
        return _raw({"grip": scalar, "robot_state.ee_pose": _valid_ee_pose(r)})

    def huge_declared_shape(self) -> bytes:
        r = self.rng
        shape = r.choice([
            [2**40, 2**40], [2**63 - 1], [2**64 - 1], [10**6] * 5, [65536, 65536, 3], [1] * r.randint(33, 200),
            [0, 2**63 - 1, 2**63 - 1],
        ])
        return _raw({self._key(): _envelope(r.choice(["|u1", "<f8"]), shape, self._bytes(r.randint(0, 64)))})

    def deep_nesting(self) -> bytes:
        r = self.rng
        depth = r.choice([33, 40, 100, 1000, 1025, 5000, r.randint(33, 60_000)])
        if r.random() < 0.5:
            nested = b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]
        else:
            nested = b"\x81\xa1k" * depth + b"\xc0"  # {"k": {"k": ...}}
        if r.random() < 0.5:
            return b"\x81\xb3robot_state.ee_pose" + nested  # under a real key of a top-level map
        return nested

    def truncated_or_trailing(self) -> bytes:
        r = self.rng
        valid = packb({"robot_state.ee_pose": np.array(_valid_ee_pose(r)), "grip": np.float32(0.3),
                       "image.wrist": np.zeros((8, 8, 3), np.uint8), "task": "stack"})
        if r.random() < 0.6:
            return valid[: r.randrange(0, len(valid))]
        return valid + self._bytes(r.randint(1, 32))

    def text_frame(self) -> str:
        r = self.rng
        return r.choice([
            '{"robot_state.ee_pose": [0.5, 0, 0.5, 1, 0, 0, 0]}',
            "",
            "".join(chr(r.randint(32, 0x2FFF)) for _ in range(r.randint(1, 200))),
            "\x82\xa1a\x01",
        ])

    def oversize(self) -> bytes | str:
        r = self.rng
        size = r.randint(MAX_FRAME + 1, 4 * MAX_FRAME)
        kind = r.randrange(3)
        if kind == 0:
            return self._bytes(size)
        if kind == 1:  # a perfectly good observation, just too big for this server
            side = int(np.sqrt(size / 3)) + 2
            return packb({"robot_state.ee_pose": np.array(_valid_ee_pose(r)),
                          "image.wrist": np.zeros((side, side, 3), np.uint8)})
        return "x" * size


class AttackSession:
    """A raw WebSocket session that sends one frame and reports the server's verdict, reconnecting after closes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ws: ClientConnection | None = None
        self.reconnects = 0

    def _connect(self) -> ClientConnection:
        ws = connect(f"ws://127.0.0.1:{self.port}/api/v1/session", compression=None, max_size=None,
                     open_timeout=REPLY_TIMEOUT_S, close_timeout=2, legacy=True)
        ready = msgpack.unpackb(ws.recv(timeout=REPLY_TIMEOUT_S))
        assert ready["status"] == "ready", ready
        return ws

    def send(self, frame: bytes | str) -> tuple[str, object]:
        """("reply", decoded reply) or ("closed", close code)."""
        if self.ws is None:
            self.ws = self._connect()
            self.reconnects += 1
        try:
            self.ws.send(frame)
            return "reply", msgpack.unpackb(self.ws.recv(timeout=REPLY_TIMEOUT_S), strict_map_key=False)
        except ConnectionClosed as e:
            self.ws = None
            return "closed", e.rcvd.code if e.rcvd else None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


class WellBehavedRobot(threading.Thread):
    """Our own client in lock-step with the server, checking every reply's values until told to stop."""

    def __init__(self, port: int, seed: int) -> None:
        super().__init__(name="well-behaved-robot", daemon=True)
        self.port = port
        self.rng = np.random.default_rng(seed)
        self.stop = threading.Event()
        self.replies = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with InferenceClient("127.0.0.1", self.port, infer_timeout=REPLY_TIMEOUT_S).new_session() as session:
                while not self.stop.is_set():
                    quat = self.rng.normal(size=4)
                    quat /= np.linalg.norm(quat)
                    pose = np.concatenate([self.rng.uniform(0.2, 0.7, 3), quat])
                    grip = float(self.rng.uniform())
                    # Small images: this server's frames are capped at 64 KiB to make oversize frames cheap.
                    obs = {"robot_state.ee_pose": pose, "grip": grip, "task": "stack",
                           "image.wrist": self.rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)}
                    result = session.infer(obs)
                    assert len(result) == 2, result
                    for action in result:
                        command = action["robot_command"]
                        assert command["type"] == "cartesian_pos"
                        np.testing.assert_allclose(command["pose"][:3], pose[:3], atol=1e-12)
                        np.testing.assert_allclose(np.reshape(command["pose"][3:], (3, 3)),
                                                   quat_wxyz_to_matrix(quat), atol=1e-12)
                        assert action["target_grip"] == pytest.approx(grip)
                    self.replies += 1
        except BaseException as e:  # reported by the test
            self.failure = e


@pytest.fixture(scope="module")
def server():
    config = ServerConfig(port=0, max_frame_bytes=MAX_FRAME)
    with running_server(HoldPoseSource(chunk_size=2), config) as server:
        yield server


def _describe(index: int, category: str, frame: bytes | str) -> str:
    return f"frame {index} ({category}, seed {SEED}, {len(frame)} bytes, starts {frame[:60]!r})"


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN poses, on purpose
def test_malformed_frames_get_errors_or_closes_while_a_robot_keeps_working(server):
    frames = MalformedFrames(SEED)
    attacker = AttackSession(server.port)
    robot = WellBehavedRobot(server.port, SEED)
    verdicts: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    robot.start()
    started = time.perf_counter()
    try:
        for index in range(FRAMES):
            category, frame = frames.next()
            size = len(frame.encode()) if isinstance(frame, str) else len(frame)
            what, detail = attacker.send(frame)
            sent[category] += 1
            if size > MAX_FRAME:
                assert (what, detail) == ("closed", 1009), f"{_describe(index, category, frame)} got {what} {detail}"
            else:
                assert what == "reply", f"{_describe(index, category, frame)} closed the session with {detail}"
                assert isinstance(detail, dict) and set(detail) == {"error"} and isinstance(detail["error"], str), \
                    f"{_describe(index, category, frame)} got {detail!r:.300}"
            verdicts[what] += 1
            assert robot.failure is None, f"the well-behaved session failed near {_describe(index, category, frame)}"
        elapsed = time.perf_counter() - started
    finally:
        robot.stop.set()
        robot.join(timeout=30)
        attacker.close()
    assert robot.failure is None, repr(robot.failure)
    assert not robot.is_alive()
    assert robot.replies >= 50, f"the well-behaved session got only {robot.replies} replies in {elapsed:.1f} s"
    # The server is still whole: a fresh client lists models and gets a correct answer.
    client = InferenceClient("127.0.0.1", server.port)
    assert client.list_models() == ["1"]
    with client.new_session() as session:
        assert session.infer({"robot_state.ee_pose": np.array([0.5, 0, 0.5, 1.0, 0, 0, 0]), "grip": 0.0})
    print(f"\nfuzz: {FRAMES} malformed frames in {elapsed:.1f} s ({FRAMES / elapsed:.0f}/s), seed {SEED}; "
          f"{verdicts['reply']} error replies, {verdicts['closed']} 1009 closes ({attacker.reconnects} connections); "
          f"well-behaved session: {robot.replies} correct replies alongside; by category: {dict(sorted(sent.items()))}")


_leaves = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=True)
           | st.text(max_size=20) | st.binary(max_size=40))
_keys = st.text(max_size=12) | st.binary(max_size=12) | st.integers(-2**63, 2**64 - 1)
_documents = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(_keys, children, max_size=5)
    | st.fixed_dictionaries({_ND: st.just(True)}, optional={
        b"dtype": _leaves, b"shape": st.lists(st.integers(-3, 2**40), max_size=4) | _leaves, b"data": _leaves}),
    max_leaves=30,
)
_observations = st.dictionaries(
    st.sampled_from(["robot_state.ee_pose", "grip", "image.wrist", "task", "robot_state.q"]) | st.text(max_size=8),
    _documents, max_size=5)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(doc=_documents | _observations)
def test_any_msgpack_document_gets_a_result_or_an_error(server, doc):
    attacker = AttackSession(server.port)
    try:
        what, reply = attacker.send(_raw(doc))
    finally:
        attacker.close()
    assert what == "reply", f"{doc!r:.300} closed the session with {reply}"
    assert isinstance(reply, dict) and (set(reply) == {"error"} or set(reply) == {"result", "timing"}), reply
