"""What differs between the protocol versions a server may speak, read once from its ready frame.

- v1 (ours, upstream 0.2.x): the ready frame has no `protocol_version`; a request is the bare observation; a session
  ends when the connection closes; results are robot commands.
- v2 (upstream 0.4.x `positronic.offboard.server.PolicyServer`): the ready frame carries `protocol_version: 2` and a
  `session_id`; a request is `{session_id, observation}`; the client ends a session with
  `{session_id, end_session: true}`, which the server echoes once the model has released the session; results are
  robot commands, decoded by the server's codec.
- v3 (upstream `positronic_model_server`): as v2, but a result is the model's own output, and the ready meta's
  `local_stack` says how the robot side turns observations into model input and output into commands.

Both newer servers serve one model at `/api/v1/session` (no `/api/v1/models`; a model id in the path and a missing
token are both refused with HTTP 403) and read session parameters from the query string, each value as JSON.
Everything version-specific lives here, so the client and the policy ask this object instead of the version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = "protocol_version"
SESSION_ID = "session_id"
OBSERVATION = "observation"
END_SESSION = "end_session"
#: Versions this client speaks; a server declaring another is refused at the handshake.
SUPPORTED = (1, 2, 3)


class UnsupportedProtocol(ValueError):
    """A ready frame this client cannot follow; the message names the version and what is missing."""


@dataclass(frozen=True)
class SessionProtocol:
    version: int
    session_id: str | None = None

    @property
    def label(self) -> str:
        return f"protocol v{self.version}"

    @property
    def has_sessions(self) -> bool:
        """Whether requests name the session and the session ends with an echoed `end_session`."""
        return self.version >= 2

    @property
    def returns_model_output(self) -> bool:
        """Whether a result is the model's own output, which the declared client stack decodes into commands."""
        return self.version >= 3

    @property
    def runs_declared_stack(self) -> bool:
        """Whether the handshake's `local_stack` must run on this side. v1 servers of ours and 0.2.x stamp their
        actions themselves, so their declaration (for 0.4.x clients) is left alone, as before."""
        return self.version >= 2

    def request(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        if not self.has_sessions:
            return dict(observation)
        return {SESSION_ID: self.session_id, OBSERVATION: dict(observation)}

    def end_request(self) -> dict[str, Any] | None:
        """The message that ends the session, or None where closing the connection does."""
        return {SESSION_ID: self.session_id, END_SESSION: True} if self.has_sessions else None

    def is_end_echo(self, message: Any) -> bool:
        return isinstance(message, Mapping) and message.get(SESSION_ID) == self.session_id \
            and message.get(END_SESSION) is True


def from_ready(message: Mapping[str, Any]) -> SessionProtocol:
    """The protocol of the session a ready frame opens: no `protocol_version` means v1."""
    version = message.get(PROTOCOL_VERSION, 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED:
        raise UnsupportedProtocol(f"protocol v{version} is not supported (this client speaks "
                                  f"{', '.join(f'v{v}' for v in SUPPORTED)})")
    if version == 1:
        return SessionProtocol(1)
    session_id = message.get(SESSION_ID)
    if not isinstance(session_id, str) or not session_id:
        raise UnsupportedProtocol(f"protocol v{version} ready frame lacks a session_id")
    return SessionProtocol(version, session_id)
