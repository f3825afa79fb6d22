"""Protocol v1 message shapes other than observations.

Handshake: the server sends zero or more `{"status": "loading"|"waiting", "message": str}` while busy (at least
every `PROGRESS_INTERVAL_S`), then `{"status": "ready", "meta": {...}}`; or `{"status": "error", "error": str}`
followed by a close with code `CLOSE_POLICY_VIOLATION`. Replies are `{"result": [action, ...]}` or
`{"error": str}`; an error reply leaves the session open.

Upstream 0.4.x clients speak v1 to a server whose ready frame carries no `protocol_version`, and need three
additions that 0.2.x clients ignore: a WebSocket upgrade on `/` refused with 403 (their probe for "a server answers
here"), `POST /api/v1/keepalive` answering `{"alive_seconds": null}` (no idle timeout), and a `local_stack` in the
handshake meta naming the processors their `RemotePolicy` runs around the session (`V1_CLIENT_STACK`).
"""

from __future__ import annotations

from typing import Any

#: Servers repeat progress messages at least this often; clients wait `HANDSHAKE_MESSAGE_TIMEOUT_S` per message.
PROGRESS_INTERVAL_S = 5.0
HANDSHAKE_MESSAGE_TIMEOUT_S = 30.0

CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009

MODELS_PATH = "/api/v1/models"
SESSION_PATH = "/api/v1/session"
KEEPALIVE_PATH = "/api/v1/keepalive"
#: Open without a token, for probes: 200 `{"status": "ready"}` when sessions may come, else 503 (`serve.readiness`).
HEALTH_PATH = "/api/v1/health"
#: Upstream 0.4.x's `RemotePolicy` refuses a server that declares no client processor stack. This is the stack
#: upstream's own v1 servers declared. 0.4.x rebuilds its chunked schedule at the handshake meta's `action_fps` (every
#: model of ours declares it and stamps action i of a chunk at i / action_fps): each chunk's absolute targets play one
#: period apart, then the next chunk is asked for, which is what 0.2.x did with our timestamps. `stop_on_fault`
#: withholds commands and inference while an arm reports an error, as 0.2.x did.
V1_CLIENT_STACK: dict[str, Any] = {"seq": [{"name": "stop_on_fault", "version": 1},
                                           {"name": "chunked_schedule", "version": 1}]}
DEFAULT_PORT = 8000
#: The environment variable holding the bearer token, read alike by servers (to require it) and clients (to send
#: it), so a deployment sets it once on both sides.
TOKEN_ENV = "POSITRONIC_AUTH_TOKEN"


def loading(message: str) -> dict[str, Any]:
    return {"status": "loading", "message": message}


def waiting(message: str) -> dict[str, Any]:
    return {"status": "waiting", "message": message}


def ready(meta: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ready", "meta": meta}


def handshake_error(error: str) -> dict[str, Any]:
    return {"status": "error", "error": error}


def result(actions: list[dict[str, Any]], timing: dict[str, float] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"result": actions}
    if timing is not None:
        reply["timing"] = timing
    return reply


def error(message: str) -> dict[str, Any]:
    return {"error": message}
