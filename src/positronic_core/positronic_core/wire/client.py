"""A synchronous inference client: list models, open one session per episode, infer in lock-step.

It speaks protocol v1 (ours, upstream 0.2.x) and upstream 0.4.x's v2 and v3; what differs between them is read from
the ready frame into a `SessionProtocol` (`wire.protocol_version`), which shapes requests and the end of a session.
Every error names the server (host, port) and the model, because on a lab network the first question is always
"which box, which checkpoint".
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from positronic_core.wire import messages
from positronic_core.wire.envelope import WireError, packb, unpackb
from positronic_core.wire.protocol_version import SessionProtocol, UnsupportedProtocol, from_ready

#: How long closing a v2/v3 session waits for the server to echo `end_session` (upstream's client bounds it alike).
END_SESSION_TIMEOUT_S = 5.0


class InferenceError(RuntimeError):
    """Anything that stops a session: unreachable server, unknown model, error reply, closed connection."""


class SessionDropped(InferenceError):
    """The connection ended without a close frame: the server process (behind a load balancer, the replica holding
    the session) died, or the network dropped. Unlike a refusal, a new session may well succeed."""


class NoModelListing(InferenceError):
    """The server has no `GET /api/v1/models` (upstream 0.4.x): it serves one model at `/api/v1/session`."""


class InferenceClient:
    def __init__(self, host: str, port: int = messages.DEFAULT_PORT, *, token: str | None = None,
                 connect_timeout: float = 10.0, handshake_timeout: float = messages.HANDSHAKE_MESSAGE_TIMEOUT_S,
                 infer_timeout: float = 120.0, max_frame_bytes: int = 256 * 1024 * 1024) -> None:
        self.host = host
        self.port = int(port)
        self.token = token
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.infer_timeout = infer_timeout
        self.max_frame_bytes = max_frame_bytes

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def list_models(self) -> list[str]:
        url = f"http://{self.where}{messages.MODELS_PATH}"
        request = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=self.connect_timeout) as response:
                return list(json.load(response)["models"])
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise NoModelListing(f"{url} answered HTTP 404: the server lists no models, so it serves one "
                                     "model") from None
            raise InferenceError(f"{url} answered HTTP {e.code}: {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise InferenceError(f"cannot reach policy server at {self.where}: {reason}") from None
        except (ValueError, KeyError) as e:
            raise InferenceError(f"{url} did not return a model list: {e}") from None

    def only_model_id(self) -> str:
        """The id of the one model a server without a listing serves (upstream 0.4.x), as its handshake names it."""
        with self.new_session() as session:
            meta = session.meta
        for key in ("checkpoint_id", "model_id", "model_name"):
            if meta.get(key) not in (None, ""):
                return str(meta[key])
        return "model"

    def served_models(self) -> list[str]:
        """The models a session can ask for: the server's listing, or the one model a server without one serves."""
        try:
            return self.list_models()
        except NoModelListing:
            return [self.only_model_id()]

    def new_session(self, model_id: str | None = None,
                    params: Mapping[str, Any] | None = None) -> InferenceSession:
        """Opens a session on `model_id` (None: the server's default, or its only model). `params` are session
        parameters for servers that declare them (upstream 0.4.x); each travels JSON-encoded in the query string,
        which is how those servers read it, so a string stays a string."""
        return InferenceSession(self, model_id, params)


class InferenceSession:
    """One WebSocket session; opening it resets the model's per-episode state on the server."""

    def __init__(self, client: InferenceClient, model_id: str | None,
                 params: Mapping[str, Any] | None = None) -> None:
        self.client = client
        self.model_id = model_id
        self.statuses: list[dict[str, Any]] = []
        self.protocol = SessionProtocol(1)
        self.end_acknowledged: bool | None = None
        path = messages.SESSION_PATH + (f"/{quote(model_id, safe='')}" if model_id is not None else "")
        query = f"?{urlencode({k: json.dumps(v) for k, v in params.items()})}" if params else ""
        uri = f"ws://{client.where}{path}{query}"
        try:
            # compression=None: image payloads do not compress, and deflate costs ~14 ms per round trip.
            self._ws: ClientConnection = connect(
                uri, compression=None, open_timeout=client.connect_timeout, max_size=client.max_frame_bytes,
                additional_headers=client._headers(), close_timeout=2, legacy=True)
        except InvalidStatus as e:
            code = e.response.status_code
            raise InferenceError(f"policy server at {client.where} refused the session for {self._model}: "
                                 f"HTTP {code}{self._refusal_hint(code)}") from None
        except (OSError, TimeoutError, WebSocketException) as e:
            raise InferenceError(f"cannot reach policy server at {client.where} ({self._model}): {e}") from None
        self.meta = self._handshake()

    @property
    def _model(self) -> str:
        return f"model {self.model_id}" if self.model_id is not None else "the default model"

    def _refusal_hint(self, code: int) -> str:
        if code == 401:
            return " (the server needs a token: --policy.token or POSITRONIC_AUTH_TOKEN)"
        if code != 403:
            return ""
        # Upstream 0.4.x refuses the upgrade with 403 both for a credential and for any path but /api/v1/session.
        causes = ["a wrong token" if self.client.token else
                  "a missing token: set --policy.token or POSITRONIC_AUTH_TOKEN"]
        if self.model_id is not None:
            causes.append("a model id in the path: such a server serves one model, so leave the model id unset")
        return f" (an upstream 0.4.x server answers 403 to {'; or to '.join(causes)})"

    def _recv(self, timeout: float, during: str) -> Any:
        try:
            frame = self._ws.recv(timeout=timeout)
        except TimeoutError:
            self._ws.close()
            raise InferenceError(f"policy server at {self.client.where} sent nothing for {timeout:.0f} s "
                                 f"during {during} ({self._model})") from None
        except ConnectionClosed as e:
            raise self._closed(e, during) from None
        if isinstance(frame, str):
            raise InferenceError(f"policy server at {self.client.where} sent a text frame; protocol v1 is binary")
        try:
            return unpackb(frame)
        except WireError as e:
            raise InferenceError(f"policy server at {self.client.where} sent a bad frame: {e}") from None

    def _closed(self, e: ConnectionClosed, during: str) -> InferenceError:
        if e.rcvd is None:
            return SessionDropped(
                f"policy server at {self.client.where} dropped the session during {during} ({self._model}) without "
                "closing it: the server, or the load-balanced replica holding the session, stopped or became "
                "unreachable")
        return InferenceError(f"policy server at {self.client.where} closed the session during {during} "
                              f"({self._model}): code {e.rcvd.code} {e.rcvd.reason}".rstrip())

    def _handshake(self) -> dict[str, Any]:
        while True:
            message = self._recv(self.client.handshake_timeout, "the handshake")
            status = message.get("status") if isinstance(message, dict) else None
            if status == "ready":
                try:
                    self.protocol = from_ready(message)
                except UnsupportedProtocol as e:
                    self._ws.close()
                    raise InferenceError(f"policy server at {self.client.where} ({self._model}): {e}") from None
                return dict(message.get("meta") or {})
            if status == "error":
                self._ws.close()
                raise InferenceError(f"policy server at {self.client.where} refused {self._model}: "
                                     f"{message.get('error')}")
            if status in ("loading", "waiting"):
                self.statuses.append(message)
                continue
            self._ws.close()
            raise InferenceError(f"policy server at {self.client.where} sent an unexpected handshake message "
                                 f"{message!r:.200}")

    def infer(self, observation: Mapping[str, Any]) -> Any:
        """Sends one observation and returns the reply's `result` (a list of actions, a single action, or None)."""
        try:
            self._ws.send(packb(self.protocol.request(observation)))
        except ConnectionClosed as e:
            raise self._closed(e, "inference") from None
        started = time.perf_counter()
        reply = self._recv(self.client.infer_timeout, "inference")
        self.last_latency_s = time.perf_counter() - started
        if not isinstance(reply, dict):
            raise InferenceError(f"policy server at {self.client.where} sent a reply that is not a map")
        if "error" in reply:
            raise InferenceError(f"policy server at {self.client.where} ({self._model}) failed: {reply['error']}")
        if "result" not in reply:
            raise InferenceError(f"policy server at {self.client.where} sent a reply without 'result'")
        self.last_timing = reply.get("timing")
        return reply["result"]

    def close(self) -> None:
        """Ends the session: v2/v3 servers release the model's session state on `end_session` and echo it, so a
        close that returns has nothing of this episode left on the server (`end_acknowledged` says whether the
        echo came). Never raises: an episode is over either way."""
        end = self.protocol.end_request()
        if end is not None and self.end_acknowledged is None:
            self.end_acknowledged = False
            try:
                self._ws.send(packb(end))
                self.end_acknowledged = self.protocol.is_end_echo(unpackb(self._ws.recv(timeout=END_SESSION_TIMEOUT_S)))
            except (ConnectionClosed, TimeoutError, WireError, OSError):
                pass
        try:
            self._ws.close()
        except OSError:
            pass

    def __enter__(self) -> InferenceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
