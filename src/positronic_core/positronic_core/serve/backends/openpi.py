"""OpenPI behind protocol v1: openpi's own `serve_policy.py` runs as our child, and we speak its wire to it.

openpi's wire: a plain WebSocket; the server's first frame is its policy metadata; then strict lock-step, one
msgpack-numpy observation for one `{"actions": (horizon, dim), ...}` reply. On an exception it sends the traceback
as a text frame and closes. Its numpy envelope is protocol v1's (`wire.envelope`, pinned byte for byte against
openpi-client's msgpack_numpy), so no openpi package is needed here.

Translation is upstream Positronic's: the codec's state vector goes as `observation/state`, the exterior camera as
`observation/image` and the wrist camera as `observation/wrist_image` (uint8, resized with padding to the codec's
224x224), the task as `prompt`; each row of `actions` is decoded by the codec (`ee`: x, y, z, qw, qx, qy, qz, grip ->
absolute Cartesian target and target grip; `joints`: 7 joint positions and grip). The training side of the same
codec is LeRobot's (`observation.state`, `observation.images.left/side`), which is what openpi trains on.

Checkpoints are openpi's training output, `<dir>/<step>/`; each loaded one runs its own `serve_policy.py` on its
own free port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, WebSocketException

from positronic_core.codecs.codec import Codec
from positronic_core.models.checkpoints import OPENPI_LAYOUT, CheckpointRegistry
from positronic_core.robot.commands import Action
from positronic_core.serve.backends.lockstep_websocket import LockstepWebSocket
from positronic_core.serve.vendor_process import VendorProcess
from positronic_core.serve.vendor_source import VendorSource
from positronic_core.wire.envelope import WireError, packb, unpackb

log = logging.getLogger(__name__)

#: How upstream Positronic's openpi image starts openpi's server: its openpi checkout (Positronic's fork, which has
#: the `pi05_positronic_lowmem` config) at /openpi, run through uv in that project's environment.
DEFAULT_COMMAND = ("uv run --frozen --project /openpi -- python scripts/serve_policy.py --port {port} "
                   "policy:checkpoint --policy.config pi05_positronic_lowmem --policy.dir {checkpoint_dir}")
DEFAULT_CWD = "/openpi"

STATE_KEY = "observation/state"
#: Our camera keys -> the image keys openpi's Positronic and LIBERO-style policies read.
IMAGE_KEYS = {"image.exterior": "observation/image", "image.wrist": "observation/wrist_image"}
PROMPT_KEY = "prompt"
ACTIONS_KEY = "actions"

#: Longest piece of an openpi exception quoted in an error reply (the whole traceback goes to our log).
_ERROR_CHARS = 500


class OpenpiError(RuntimeError):
    """The openpi server failed, went away, or answered something that is not openpi's reply."""


class OpenpiConnection:
    """One WebSocket to an openpi policy server: its metadata frame on connect, then lock-step inference."""

    def __init__(self, port: int, *, host: str = "127.0.0.1", open_timeout_s: float = 10.0,
                 infer_timeout_s: float = 120.0, max_frame_bytes: int = 64 * 1024 * 1024) -> None:
        self.where = f"{host}:{port}"
        self.infer_timeout_s = infer_timeout_s
        # No keepalive pings: openpi's server computes on its event loop and cannot answer them meanwhile (a
        # first JAX compile takes minutes); lock-step replies under `infer_timeout_s` are the liveness check.
        self._ws = LockstepWebSocket(host, port, open_timeout_s=open_timeout_s, max_size=max_frame_bytes)
        try:
            self.metadata = self._decode(self._ws.recv(timeout=open_timeout_s), "metadata")
        except BaseException:
            self._ws.close()
            raise

    def infer(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """Sends one observation; the reply map. `OpenpiError` for a failure the server reports; the socket's own
        errors (ConnectionClosed, OSError, TimeoutError) pass through."""
        self._ws.send(packb(dict(observation)))
        return self._reply(self._ws.recv(timeout=self.infer_timeout_s))

    async def infer_async(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """`infer` on the running event loop."""
        await self._ws.send_async(packb(dict(observation)))
        return self._reply(await self._ws.recv_async(timeout=self.infer_timeout_s))

    def _reply(self, frame: bytes | str) -> dict[str, Any]:
        reply = self._decode(frame, "reply")
        actions = reply.get(ACTIONS_KEY)
        if not isinstance(actions, np.ndarray) or actions.ndim != 2:
            shape = getattr(actions, "shape", type(actions).__name__)
            raise OpenpiError(f"the openpi server's reply has no (horizon, dim) 'actions' array (got {shape})")
        return reply

    def _decode(self, frame: bytes | str, what: str) -> dict[str, Any]:
        if isinstance(frame, str):  # openpi's way of reporting an exception (a traceback), just before it closes
            log.error("the openpi server on %s failed:\n%s", self.where, frame.rstrip())
            lines = frame.strip().splitlines() or ["(no message)"]
            raise OpenpiError(f"the openpi server failed: {lines[-1][:_ERROR_CHARS]}")
        try:
            document = unpackb(frame)
        except WireError as e:
            raise OpenpiError(f"the openpi server sent a bad {what}: {e}") from None
        if not isinstance(document, dict):
            raise OpenpiError(f"the openpi server sent a {what} that is not a map")
        return document

    def is_open(self) -> bool:
        """False if the server closed the connection while it was idle (say, unanswered pings): reconnect."""
        return self._ws.is_open()

    def close(self) -> None:
        self._ws.close()


def probe(port: int) -> bool:
    """openpi is up once a WebSocket to it gets the metadata frame (it loads the policy before listening)."""
    OpenpiConnection(port, open_timeout_s=5.0).close()
    return True


def openpi_inputs(codec: Codec) -> dict[str, str]:
    """The codec's features -> openpi's input keys; ValueError for a camera openpi's policies do not read."""
    keys = {codec.state_feature: STATE_KEY}
    for image in codec.images:
        if image.key not in IMAGE_KEYS:
            raise ValueError(f"codec {codec.name!r} feeds camera {image.key!r}; the openpi backend sends only "
                             f"{', '.join(IMAGE_KEYS)}")
        keys[image.feature] = IMAGE_KEYS[image.key]
    return keys


class OpenpiModel:
    """A checkpoint served by its own openpi process, which this model owns."""

    #: openpi's server runs one observation per call.
    max_batch_size = 1

    def __init__(self, process: VendorProcess, codec: Codec, *, infer_timeout_s: float = 120.0) -> None:
        self.codec = codec
        self.infer_timeout_s = infer_timeout_s
        self._process = process
        self._keys = openpi_inputs(codec)
        self._connection: OpenpiConnection | None = self._connect()
        self.meta: dict[str, Any] = {"type": "openpi", **codec.meta, "openpi_metadata": self._connection.metadata}

    @property
    def alive(self) -> bool:
        return self._process.alive()

    def _connect(self) -> OpenpiConnection:
        return OpenpiConnection(self._process.port, infer_timeout_s=self.infer_timeout_s)

    def encode(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """One protocol v1 observation -> openpi's input map."""
        frame = self.codec.encode_frame(observation)
        encoded = {self._keys[feature]: value for feature, value in frame.items() if feature in self._keys}
        # As upstream: no task, no prompt (openpi then applies its --default_prompt).
        if "task" in observation:
            encoded[PROMPT_KEY] = frame[self.codec.task_field]
        return encoded

    def infer_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        return [self._infer_one(observation) for observation in observations]

    async def infer_batch_async(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        """`infer_batch` on the server's event loop, which then needs no model thread (see `lockstep_websocket`).
        Two rare steps still block the loop, briefly: opening a new connection (after an idle close or a failure, a
        loopback handshake) and, once the connection is lost, up to 2 s waiting for the vendor's exit status."""
        chunks = []
        for observation in observations:
            encoded = self.encode(observation)
            with self._vendor_errors():
                reply = await self._connected().infer_async(encoded)
            chunks.append(self.codec.decode(reply[ACTIONS_KEY], observation))
        return chunks

    def _infer_one(self, observation: Mapping[str, Any]) -> list[Action]:
        reply = self._call(self.encode(observation))
        return self.codec.decode(reply[ACTIONS_KEY], observation)

    def _call(self, encoded: Mapping[str, Any]) -> dict[str, Any]:
        with self._vendor_errors():
            return self._connected().infer(encoded)

    def _connected(self) -> OpenpiConnection:
        """The connection to send on, opened afresh if there is none or the server closed it while idle."""
        if not self._process.alive():
            raise OpenpiError(self._process.exit_message())
        if self._connection is not None and not self._connection.is_open():
            self._drop_connection()
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    @contextmanager
    def _vendor_errors(self) -> Iterator[None]:
        """A failed round trip as one `OpenpiError`, and the connection dropped: after a failure, a timeout or a
        cancelled call, a late or half-read reply would be taken for the answer to the next observation."""
        try:
            yield
        except OpenpiError:
            self._drop_connection()  # openpi closes the socket after reporting a failure
            raise
        except TimeoutError:
            self._drop_connection()
            raise OpenpiError(f"the openpi server on port {self._process.port} did not answer within "
                              f"{self.infer_timeout_s:g} s") from None
        except (ConnectionClosed, WebSocketException, OSError) as e:
            self._drop_connection()
            if self._process.wait_exit(2.0) is not None:
                raise OpenpiError(self._process.exit_message()) from None
            raise OpenpiError(f"lost the connection to the openpi server on port {self._process.port}: "
                              f"{type(e).__name__}: {e}") from None
        except asyncio.CancelledError:  # the server is unloading this model
            self._drop_connection()
            raise

    def warm_up(self) -> None:
        """One inference on a neutral observation (zeros, black images), checked only for being a reply."""
        neutral: dict[str, Any] = {part.key: np.zeros(part.size, np.float32) for part in self.codec.state}
        for image in self.codec.images:
            neutral[image.key] = np.zeros((image.height, image.width, 3), np.uint8)
        neutral["task"] = "warm up"
        self._call(self.encode(neutral))

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except OSError:
                pass
            self._connection = None

    def close(self) -> None:
        self._drop_connection()
        self._process.stop()


def openpi_source(checkpoints_dir: Path | str, codec: Codec, *, checkpoint: str | None = None,
                  command: str = DEFAULT_COMMAND, cwd: Path | str | None = DEFAULT_CWD,
                  start_timeout_s: float = 600.0, infer_timeout_s: float = 120.0) -> VendorSource:
    """Serves openpi checkpoints under `checkpoints_dir` (`<step>/` each), one openpi server per loaded one."""
    openpi_inputs(codec)  # a codec openpi cannot take fails now, not at the first session

    def connect(process: VendorProcess, progress: Callable[[str], None]) -> OpenpiModel:
        return OpenpiModel(process, codec, infer_timeout_s=infer_timeout_s)

    registry = CheckpointRegistry(checkpoints_dir, checkpoint, layout=OPENPI_LAYOUT)
    return VendorSource(registry, command=command, connect=connect, probe=probe, cwd=cwd,
                        start_timeout_s=start_timeout_s, name="openpi server")
