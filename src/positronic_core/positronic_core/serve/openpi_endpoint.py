"""An openpi-compatible endpoint, so the client openpi users already run on their robots
(`openpi_client.websocket_client_policy.WebsocketClientPolicy`) can use any of our backends.

It speaks openpi's own wire on a port of its own (`--openpi_port`), beside protocol v1:
- a WebSocket on `/` (the default model) or `/<model_id>`; `GET /healthz` answers `OK` as openpi's server does;
- msgpack-numpy binary frames (the same envelope as protocol v1);
- the server's first frame is a metadata map (the model's handshake meta, its id and the layout); no progress
  frames, since openpi clients take the first frame as the metadata, so a model that must load first simply delays it;
- each request is one observation map in the layout's keys (see `openpi_layout`), each reply
  `{"actions": float32 (H, D), "server_timing": {...}, "policy_timing": {...}}`;
- a failed request is answered as openpi's server answers it: the error as a text frame (openpi's client raises it
  as a RuntimeError), then a close with code 1011. Unknown models and failed loads close with 1008 / 1011 before the
  metadata, the reason naming the problem.

The endpoint is a thin adapter: every connection is a session of the v1 server's model pool, so both wires share
loaded models, batching and the unloading budget, and the same bearer token guards both (openpi's client sends it
as `Authorization: Api-Key TOKEN`, which is accepted beside `Bearer TOKEN`).
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from positronic_core import __version__
from positronic_core.models.errors import ModelLoadError, UnknownModelError
from positronic_core.serve import auth
from positronic_core.serve.model import ModelSource
from positronic_core.serve.model_pool import LoadedModel, ModelPool
from positronic_core.serve.openpi_layout import OpenpiLayout, OpenpiObservationError, actions_to_rows
from positronic_core.wire.envelope import DEFAULT_LIMITS, Limits, WireError, packb, unpackb

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
CLOSE_INTERNAL_ERROR = 1011
CLOSE_POLICY_VIOLATION = 1008
_TOKEN_SCHEMES = ("Api-Key", "Bearer")


class RequestError(Exception):
    """A request the endpoint answers with an error frame and a close, as openpi's server does."""


class OpenpiEndpoint:
    def __init__(self, pool: ModelPool, source: ModelSource, layout: OpenpiLayout, *, auth_token: str | None = None,
                 limits: Limits = DEFAULT_LIMITS, max_frame_bytes: int = 32 * 1024 * 1024) -> None:
        self.pool = pool
        self.source = source
        self.layout = layout
        self.auth_token = auth_token
        self.limits = limits
        self.max_frame_bytes = max_frame_bytes
        self._server: Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("endpoint not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        """Listen on host:port; the `OSError` of a failed bind propagates."""
        self._server = await serve(self._session, host, port, process_request=self._process_request,
                                   compression=None, max_size=self.max_frame_bytes,
                                   server_header=f"positronic-ros/{__version__}")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.partition("?")[0] == HEALTH_PATH:
            return connection.respond(HTTPStatus.OK, "OK\n")
        if not auth.is_authorized(request.headers.get("Authorization"), self.auth_token, _TOKEN_SCHEMES):
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token (send "
                                          "WebsocketClientPolicy(..., api_key=TOKEN))\n")
            response.headers["WWW-Authenticate"] = "Api-Key"
            return response
        return None

    async def _session(self, connection: ServerConnection) -> None:
        requested = unquote(connection.request.path.partition("?")[0].strip("/")) or None
        try:
            model_id = self.source.resolve(requested)
        except UnknownModelError as e:
            log.warning("openpi endpoint refused a session: %s", e)
            await _close(connection, CLOSE_POLICY_VIOLATION, str(e))
            return
        try:
            entry = await self.pool.acquire(model_id, _no_progress)
        except ConnectionClosed:
            return
        except Exception as e:
            if isinstance(e, ModelLoadError):
                log.error("loading model %s failed: %s", model_id, e)
            else:
                log.exception("loading model %s failed", model_id)
            await _close(connection, CLOSE_INTERNAL_ERROR, f"loading model {model_id} failed: {e}")
            return
        try:
            meta = {**entry.executor.model.meta, "model_id": model_id,
                    "server_version": __version__, "openpi_layout": self.layout.name,
                    "state_dim": self.layout.state_dim}
            await connection.send(packb(meta))
            previous_total_ms: float | None = None
            async for frame in connection:
                started = time.perf_counter()
                try:
                    reply = await self._reply(entry, frame)
                except RequestError as e:
                    await connection.send(f"positronic-policy-server: {e}")
                    await _close(connection, CLOSE_INTERNAL_ERROR, "request failed; the previous frame says why")
                    return
                if previous_total_ms is not None:
                    reply["server_timing"]["prev_total_ms"] = previous_total_ms
                await connection.send(packb(reply))
                previous_total_ms = (time.perf_counter() - started) * 1000.0
        except ConnectionClosed:
            pass
        finally:
            await self.pool.release(entry)

    async def _reply(self, entry: LoadedModel, frame: bytes | str) -> dict[str, Any]:
        started = time.perf_counter()
        if isinstance(frame, str):
            raise RequestError("observations are binary msgpack frames; got a text frame")
        try:
            openpi_obs = unpackb(frame, self.limits)
        except WireError as e:
            raise RequestError(f"bad frame: {e}") from None
        if not isinstance(openpi_obs, dict) or not all(isinstance(k, str) for k in openpi_obs):
            raise RequestError("an observation must be a map with string keys")
        try:
            observation = self.layout.to_observation(openpi_obs)
        except OpenpiObservationError as e:
            raise RequestError(f"bad observation: {e}") from None
        try:
            actions, timing = await entry.executor.infer(observation)
            rows = actions_to_rows(actions)
        except Exception as e:
            raise RequestError(f"inference failed: {type(e).__name__}: {e}"[:2000]) from None
        return {"actions": rows,
                "server_timing": {"infer_ms": (time.perf_counter() - started) * 1000.0},
                "policy_timing": {"infer_ms": timing["model_ms"], "queue_ms": timing["queue_ms"],
                                  "batch_size": timing["batch_size"]}}


async def _no_progress(message: str) -> None:
    """openpi clients read the first frame as the metadata, so loading progress is only logged."""
    log.info("openpi endpoint: %s", message)


async def _close(connection: ServerConnection, code: int, reason: str) -> None:
    try:
        # Close reasons are capped at 123 bytes by the WebSocket spec.
        await connection.close(code, reason.encode()[:120].decode(errors="ignore"))
    except ConnectionClosed:
        pass
