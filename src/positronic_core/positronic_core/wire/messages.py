"""Protocol v1 message shapes other than observations.

Handshake: the server sends zero or more `{"status": "loading"|"waiting", "message": str}` while busy (at least
every `PROGRESS_INTERVAL_S`), then `{"status": "ready", "meta": {...}}`; or `{"status": "error", "error": str}`
followed by a close with code `CLOSE_POLICY_VIOLATION`. Replies are `{"result": [action, ...]}` or
`{"error": str}`; an error reply leaves the session open.
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
