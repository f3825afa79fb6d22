"""GR00T's own policy-server wire, client side: ZeroMQ REQ/REP carrying one msgpack document each way.

Written from the format NVIDIA's `gr00t/policy/server_client.py` documents (N1.6):
- request: a map `{"endpoint": name, "data": {...}}`; `ping` (and `kill`, `get_modality_config`) carry no `data`.
  `get_action` sends `{"observation": {...}, "options": None}` and is answered by `[action, info]`; `reset` sends
  `{"options": None}`. An optional `api_token` field is only checked when the server was started with one.
- an ndarray anywhere in a document is the map `{"__ndarray_class__": True, "as_npy": <np.save bytes>}` (the .npy
  format, saved without pickle); every other value is plain msgpack, map keys are str.
- a failure is answered by `{"error": message}` (or, from older servers, the raw bytes `ERROR`).

REQ/REP is strictly one request in flight, and a REQ socket whose reply never came is wedged for good (it refuses to
send again), so every request here has a bound and a timed-out socket is replaced before the next request.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgpack
import numpy as np
import zmq
import zmq.asyncio

from positronic_core.wire.envelope import raw_bytes

NDARRAY_TAG = "__ndarray_class__"
NPY_FIELD = "as_npy"
_NPY_MAGIC = b"\x93NUMPY"
#: GR00T's own client waits this long for a reply.
DEFAULT_TIMEOUT_S = 15.0
# How often a waiting request checks whether the server is still alive (so a crash is an error at once, not after
# the whole timeout).
_LIVENESS_POLL_S = 0.1


class GrootWireError(RuntimeError):
    """A request the GR00T server did not answer properly: an error reply, a timeout, a malformed document."""


class GrootTimeoutError(GrootWireError):
    pass


@functools.lru_cache(maxsize=64)
def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """What `np.save` writes before a C-ordered array's bytes, built by numpy's own format writer once per layout
    (formatting it costs more than packing a small array)."""
    out = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue()


def _to_npy(array: np.ndarray) -> bytes:
    """`array` in the .npy format: byte for byte what `np.save(..., allow_pickle=False)` writes for a C-ordered
    array (others travel C-ordered, which `np.load` reads back the same)."""
    if array.dtype.hasobject:  # refused rather than travelling as a pickle, as np.save without pickle does
        raise ValueError(f"cannot send an array of dtype {array.dtype} (it holds Python objects)")
    return b"".join((_npy_header(array.dtype, array.shape), raw_bytes(array)))


@functools.lru_cache(maxsize=64)
def _npy_layout(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool]:
    """dtype, shape and Fortran order of a .npy header, parsed (safely, by numpy's reader) once per layout."""
    stream = io.BytesIO(header)
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(stream)
    if dtype.hasobject:
        raise ValueError(f"arrays of dtype {dtype} hold Python objects and are refused")
    return dtype, shape, fortran_order


def _from_npy(payload: bytes) -> np.ndarray:
    """A .npy payload's array (read-only: a view of the payload), what `np.load(..., allow_pickle=False)` reads."""
    if not payload.startswith(_NPY_MAGIC) or len(payload) < 10:
        raise ValueError("not in the .npy format")
    # The header length field: 2 bytes in version 1.0, 4 from version 2.0 on.
    length_bytes = 2 if payload[6] == 1 else 4
    data_start = 8 + length_bytes + int.from_bytes(payload[8:8 + length_bytes], "little")
    dtype, shape, fortran_order = _npy_layout(payload[:data_start])
    count = math.prod(shape)
    if len(payload) - data_start != count * dtype.itemsize:
        raise ValueError(f"{len(payload) - data_start} data bytes for shape {shape} of {dtype}")
    array = np.frombuffer(payload, dtype=dtype, count=count, offset=data_start)
    return array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {NDARRAY_TAG: True, NPY_FIELD: _to_npy(obj)}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} for the GR00T server")


def _decode_hook(obj: dict) -> Any:
    if obj.get(NDARRAY_TAG) is True:
        try:
            return _from_npy(obj[NPY_FIELD])
        except (KeyError, TypeError, ValueError, OSError) as e:
            raise GrootWireError(f"malformed array in a GR00T reply: {e}") from None
    return obj


def pack(document: Any) -> bytes:
    """One GR00T wire document."""
    return msgpack.packb(document, default=_encode_default, use_bin_type=True)


def unpack(payload: bytes) -> Any:
    try:
        return msgpack.unpackb(payload, object_hook=_decode_hook, raw=False, strict_map_key=False)
    except GrootWireError:
        raise
    except (ValueError, msgpack.UnpackException) as e:
        raise GrootWireError(f"the GR00T server sent a document that is not msgpack: {e}") from None


class GrootClient:
    """A client of one GR00T policy server on `host:port`. Not thread-safe: one caller at a time (REQ/REP)."""

    def __init__(self, port: int, host: str = "127.0.0.1", *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 liveness: Callable[[], str | None] | None = None, api_token: str | None = None) -> None:
        """`liveness()` returns None while the server runs, else why it is gone; a waiting request stops there."""
        self.address = f"tcp://{host}:{port}"
        self.timeout_s = timeout_s
        self.liveness = liveness
        self.api_token = api_token
        self._context = zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._async_socket: zmq.asyncio.Socket | None = None

    def call(self, endpoint: str, data: Mapping[str, Any] | None = None, *, timeout_s: float | None = None) -> Any:
        """Send one request and return the decoded reply; `GrootWireError` on an error reply or no reply in time."""
        payload = self._request(endpoint, data)
        bound = self.timeout_s if timeout_s is None else timeout_s
        socket = self._connected()
        deadline = time.monotonic() + bound
        try:
            if not socket.poll(_millis(bound), zmq.POLLOUT):
                raise self._timed_out(endpoint, bound)
            socket.send(payload, zmq.NOBLOCK)
            while not socket.poll(_millis(min(_LIVENESS_POLL_S, max(0.0, deadline - time.monotonic()))),
                                  zmq.POLLIN):
                self._check_liveness(endpoint)
                if time.monotonic() >= deadline:
                    raise self._timed_out(endpoint, bound)
            reply = socket.recv(zmq.NOBLOCK)
        except zmq.ZMQError as e:
            self._discard_socket()
            raise GrootWireError(f"calling {endpoint!r} at {self.address} failed: {e}") from None
        return _response(endpoint, reply)

    async def call_async(self, endpoint: str, data: Mapping[str, Any] | None = None, *,
                         timeout_s: float | None = None) -> Any:
        """`call` on the running event loop, on a socket of its own (`zmq.asyncio`), so that a server needs no
        model thread for it. A cancelled call leaves that socket waiting for its reply: it is replaced."""
        payload = self._request(endpoint, data)
        bound = self.timeout_s if timeout_s is None else timeout_s
        socket = self._connected_async()
        try:
            async with asyncio.timeout(bound):
                await socket.send(payload)
                while not await socket.poll(_millis(_LIVENESS_POLL_S), zmq.POLLIN):
                    self._check_liveness(endpoint)
                reply = await socket.recv()
        except TimeoutError:
            raise self._timed_out(endpoint, bound) from None
        except zmq.ZMQError as e:
            self._discard_socket()
            raise GrootWireError(f"calling {endpoint!r} at {self.address} failed: {e}") from None
        except asyncio.CancelledError:
            self._discard_socket()
            raise
        return _response(endpoint, reply)

    def _request(self, endpoint: str, data: Mapping[str, Any] | None) -> bytes:
        request: dict[str, Any] = {"endpoint": endpoint}
        if data is not None:
            request["data"] = dict(data)
        if self.api_token is not None:
            request["api_token"] = self.api_token
        return pack(request)

    def _check_liveness(self, endpoint: str) -> None:
        gone = self.liveness() if self.liveness is not None else None
        if gone is not None:
            self._discard_socket()
            raise GrootWireError(f"no reply to {endpoint!r}: {gone}")

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True if the server answers `ping` in time (a readiness probe: never raises for a server not up yet)."""
        try:
            self.call("ping", timeout_s=timeout_s)
        except GrootWireError:
            return False
        return True

    def get_action(self, observation: Mapping[str, Any], *, timeout_s: float | None = None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model's `(action, info)` for a batched nested observation (`video` / `state` / `language`)."""
        return _action_and_info(self.call("get_action", {"observation": observation, "options": None},
                                          timeout_s=timeout_s))

    async def get_action_async(self, observation: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """`get_action` on the running event loop."""
        return _action_and_info(await self.call_async("get_action", {"observation": observation, "options": None}))

    def reset(self, *, timeout_s: float | None = None) -> Any:
        return self.call("reset", {"options": None}, timeout_s=timeout_s)

    def close(self) -> None:
        self._discard_socket()

    def _connected(self) -> zmq.Socket:
        if self._socket is None:
            self._socket = self._new_socket(self._context)
        return self._socket

    def _connected_async(self) -> zmq.asyncio.Socket:
        if self._async_socket is None:
            self._async_socket = self._new_socket(zmq.asyncio.Context.instance())
        return self._async_socket

    def _new_socket(self, context: zmq.Context) -> zmq.Socket:
        socket = context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)  # a request to a dead server must not hold up closing
        socket.connect(self.address)
        return socket

    def _discard_socket(self) -> None:
        """Both sockets: the one that failed is wedged, and the other belongs to the same gone or stuck server."""
        self.close_async_socket()
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def close_async_socket(self) -> None:
        """Closes `call_async`'s socket. On the event loop it runs on: zmq.asyncio removes it from that loop."""
        if self._async_socket is not None:
            self._async_socket.close(linger=0)
            self._async_socket = None

    def _timed_out(self, endpoint: str, bound: float) -> GrootTimeoutError:
        # The REQ socket now waits for a reply that may never come and would refuse the next send: replace it.
        self._discard_socket()
        return GrootTimeoutError(f"the GR00T server at {self.address} did not answer {endpoint!r} within {bound:g} s")


def _response(endpoint: str, reply: bytes) -> Any:
    if reply == b"ERROR":
        raise GrootWireError(f"the GR00T server failed on {endpoint!r} (it answered ERROR)")
    response = unpack(reply)
    if isinstance(response, dict) and "error" in response:
        raise GrootWireError(f"the GR00T server failed on {endpoint!r}: {response['error']}")
    return response


def _action_and_info(response: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(response, (list, tuple)) or len(response) != 2 or not isinstance(response[0], dict):
        raise GrootWireError(f"get_action must answer [action, info], got {_describe(response)}")
    return response[0], response[1] if isinstance(response[1], dict) else {}


def _millis(seconds: float) -> int:
    return max(0, int(seconds * 1000))


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.200}"
