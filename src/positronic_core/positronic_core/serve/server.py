"""The protocol v1 policy server: `GET /api/v1/models` and WebSocket sessions on `/api/v1/session[/<model_id>]`,
with `GET /api/v1/health` for balancers and orchestrators (`serve.readiness`).

Plus what upstream 0.4.x clients need to use it (see `wire.messages`): 403 on a root upgrade, `POST
/api/v1/keepalive`, and a declared client stack in the handshake meta.

Built on the `websockets` asyncio server so HTTP and WebSocket share one port and one event loop. Two choices here
are measured, not incidental: permessage-deflate is declined (`compression=None`) because zlib on raw image bytes
costs about 14 ms per round trip against 0.7 ms without it, and model calls run on each model's own thread
(`BatchingExecutor`) so the event loop keeps serving other sessions, pings and handshakes while a model computes;
a vendor backend's round trips are awaited on the loop instead, which keeps serving meanwhile all the same.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from positronic_core import __version__
from positronic_core.models.errors import ModelLoadError, UnknownModelError
from positronic_core.robot.commands import action_to_wire
from positronic_core.serve import auth
from positronic_core.serve.model import ModelSource
from positronic_core.serve.model_pool import ModelPool
from positronic_core.serve.openpi_endpoint import OpenpiEndpoint
from positronic_core.serve.openpi_layout import get_layout
from positronic_core.serve.readiness import Readiness
from positronic_core.wire import messages
from positronic_core.wire.envelope import DEFAULT_LIMITS, Limits, WireError, packb, unpackb

log = logging.getLogger(__name__)

_REFUSE_GRACE_S = 0.2


class BindError(OSError):
    """The server cannot listen on its address: the port is taken, the address is not this machine's, ..."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        if cause.errno == errno.EADDRINUSE:
            reason = "the port is already in use (is another server running there?)"
        elif isinstance(cause.errno, int) and cause.errno > 0:
            reason = os.strerror(cause.errno)
        else:  # getaddrinfo's errors carry negative codes that os.strerror does not know
            reason = cause.strerror or str(cause)
        super().__init__(cause.errno, f"cannot listen on {host}:{port}: {reason}")
        self.port = port

    def __str__(self) -> str:
        return self.strerror


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = messages.DEFAULT_PORT
    #: Largest accepted frame; bigger ones close the session with 1009.
    max_frame_bytes: int = 32 * 1024 * 1024
    limits: Limits = DEFAULT_LIMITS
    batching: bool = True
    max_loaded_models: int = 1
    auth_token: str | None = None
    insecure: bool = False
    #: Port of the openpi-compatible endpoint (`serve.openpi_endpoint`); None = off, 0 = any free port.
    openpi_port: int | None = None
    #: How that endpoint reads `observation/state`: a codec name (`serve.openpi_layout.get_layout`).
    openpi_layout: str = "ee"
    #: Load the default model as the server starts; health says `loading` until it is in memory.
    preload: bool = False


class PolicyServer:
    def __init__(self, source: ModelSource, config: ServerConfig = ServerConfig()) -> None:
        auth.check_bind(config.host, config.auth_token, config.insecure)
        self.source = source
        self.config = config
        self.pool = ModelPool(source, batching=config.batching, max_loaded=config.max_loaded_models)
        self.readiness = Readiness(source, config.preload)
        self._preload_task: asyncio.Task | None = None
        self.openpi: OpenpiEndpoint | None = None
        if config.openpi_port is not None:
            if config.openpi_port and config.openpi_port == config.port:
                raise ValueError(f"the openpi endpoint needs a port of its own, not protocol v1's {config.port}")
            self.openpi = OpenpiEndpoint(
                self.pool, source, get_layout(config.openpi_layout), auth_token=config.auth_token,
                limits=config.limits, max_frame_bytes=config.max_frame_bytes)
        self._server: Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured with port 0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        """Listen on the configured address; `BindError` if it cannot."""
        try:
            self._server = await serve(
                self._session,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                compression=None,
                max_size=self.config.max_frame_bytes,
                server_header=f"positronic-ros/{__version__}",
            )
        except OSError as e:
            raise BindError(self.config.host, self.config.port, e) from e
        if self.openpi is not None:
            try:
                await self.openpi.start(self.config.host, self.config.openpi_port)
            except OSError as e:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
                raise BindError(self.config.host, self.config.openpi_port, e) from e
        if self.config.preload:
            self._preload_task = asyncio.get_running_loop().create_task(self._preload())

    async def _preload(self) -> None:
        """Loads the default model like a session would, and leaves it loaded (idle, within the pool's budget)."""
        try:
            model_id = self.source.resolve(None)

            async def progress(message: str) -> None:
                self.readiness.loading(message)

            self.readiness.loading(f"loading model {model_id}")
            entry = await self.pool.acquire(model_id, progress)
        except Exception as e:
            log.error("preloading the default model failed: %s: %s", type(e).__name__, e)
            self.readiness.failed(f"preloading the default model failed: {type(e).__name__}: {e}"[:2000])
            return
        await self.pool.release(entry)
        self.readiness.loaded()
        log.info("preloaded model %s; ready", model_id)

    async def serve_forever(self) -> None:
        """Serve until cancelled, starting first unless `start` already did."""
        if self._server is None:
            await self.start()
        log.info("serving protocol v1 on http://%s:%d%s", self.config.host, self.port, messages.MODELS_PATH)
        if self.openpi is not None:
            log.info("serving openpi's wire on ws://%s:%d", self.config.host, self.openpi.port)
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._preload_task is not None:
            self._preload_task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.openpi is not None:
            await self.openpi.stop()
        await self.pool.close()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == "/" and "websocket" in request.headers.get("Upgrade", "").lower():
            # Upstream 0.4.x's probe: a 403 on the root upgrade is how it tells a session server from anything
            # else on the port, so this answers before any token check (a 401 would read as a final refusal).
            return connection.respond(HTTPStatus.FORBIDDEN, f"sessions open on {messages.SESSION_PATH}\n")
        authorized = auth.is_authorized(request.headers.get("Authorization"), self.config.auth_token)
        if path == messages.HEALTH_PATH:
            # Open to probes, which carry no token (docker's healthcheck, a balancer); the reason is for operators.
            health = self.readiness.health()
            return _json_response(connection, health.body(with_message=authorized), health.http_status)
        is_session = path == messages.SESSION_PATH or path.startswith(messages.SESSION_PATH + "/")
        if path not in (messages.MODELS_PATH, messages.KEEPALIVE_PATH) and not is_session:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no route {path}\n")
        if not authorized:
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token\n")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if is_session:
            return None
        if path == messages.KEEPALIVE_PATH:
            if request.method != "POST":
                response = connection.respond(HTTPStatus.METHOD_NOT_ALLOWED, "keepalive is a POST\n")
                response.headers["Allow"] = "POST"
                return response
            # This server never idles out, which upstream's keepalive answer spells as null seconds.
            return _json_response(connection, {"alive_seconds": None})
        try:
            models = self.source.list_models()
        except OSError as e:
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot list models: {e}\n")
        return _json_response(connection, {"models": models})

    async def _session(self, connection: ServerConnection) -> None:
        path = connection.request.path.partition("?")[0]
        requested = unquote(path[len(messages.SESSION_PATH) + 1:]) or None
        try:
            model_id = self.source.resolve(requested)
        except UnknownModelError as e:
            log.warning("refused a session: %s", e)
            await self._refuse(connection, str(e))
            return

        async def progress(message: str) -> None:
            await connection.send(packb(messages.loading(message)))

        async def waiting(message: str) -> None:
            await connection.send(packb(messages.waiting(message)))

        try:
            entry = await self.pool.acquire(model_id, progress, waiting)
        except ConnectionClosed:
            return
        except Exception as e:
            if isinstance(e, ModelLoadError):  # its message is the whole story
                log.error("loading model %s failed: %s", model_id, e)
            else:
                log.exception("loading model %s failed", model_id)
            await self._refuse(connection, f"loading model {model_id} failed: {type(e).__name__}: {e}")
            return
        try:
            meta = {**entry.executor.model.meta, "model_id": model_id, "checkpoint_id": model_id,
                    "server_version": __version__, "host": self.config.host, "port": self.port,
                    "local_stack": copy.deepcopy(messages.V1_CLIENT_STACK)}
            await connection.send(packb(messages.ready(meta)))
            async for frame in connection:
                await connection.send(await self._reply(entry, frame))
        except ConnectionClosed:
            pass
        finally:
            await self.pool.release(entry)

    async def _reply(self, entry: Any, frame: bytes | str) -> bytes:
        started = time.perf_counter()
        if isinstance(frame, str):
            return packb(messages.error("protocol v1 frames are binary msgpack; got a text frame"))
        try:
            observation = unpackb(frame, self.config.limits)
        except WireError as e:
            return packb(messages.error(f"bad frame: {e}"))
        if not isinstance(observation, dict) or not all(isinstance(k, str) for k in observation):
            return packb(messages.error("an observation must be a map with string keys"))
        decoded = time.perf_counter()
        try:
            actions, timing = await entry.executor.infer(observation)
        except Exception as e:
            return packb(messages.error(f"inference failed: {type(e).__name__}: {e}"[:2000]))
        encode_start = time.perf_counter()
        wire_actions = [action_to_wire(a) for a in actions]
        timing = {**timing, "decode_ms": (decoded - started) * 1000.0,
                  "encode_ms": (time.perf_counter() - encode_start) * 1000.0}
        return packb(messages.result(wire_actions, timing))

    async def _refuse(self, connection: ServerConnection, error: str) -> None:
        try:
            await connection.send(packb(messages.handshake_error(error)))
            # Upstream 0.2.x's client resets its socket timeout after reading the error; if our close has already
            # torn the socket down, it raises "Bad file descriptor" instead of the error. Give it a moment.
            try:
                await asyncio.wait_for(connection.wait_closed(), timeout=_REFUSE_GRACE_S)
            except asyncio.TimeoutError:  # noqa: UP041 (not builtin TimeoutError before 3.11)
                pass
            # Close reasons are capped at 123 bytes by the WebSocket spec; the full text went in the error message.
            await connection.close(messages.CLOSE_POLICY_VIOLATION, error.encode()[:120].decode(errors="ignore"))
        except ConnectionClosed:
            pass


def _json_response(connection: ServerConnection, body: Any, status: HTTPStatus = HTTPStatus.OK) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


@contextmanager
def running_server(source: ModelSource, config: ServerConfig = ServerConfig(port=0)) -> Iterator[PolicyServer]:
    """Runs a server on a background event loop thread; for tests, benchmarks and embedding."""
    server = PolicyServer(source, config)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as e:
            failure.append(e)
            return
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="policy-server", daemon=True)
    thread.start()
    if not started.wait(timeout=30) or failure:
        loop.close()
        raise RuntimeError(f"policy server did not start: {failure[0] if failure else 'timeout'}")
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
