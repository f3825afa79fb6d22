"""`--policy=.remote`: a policy on a Positronic inference server, one WebSocket session per episode.

Protocol v1 servers (ours, upstream 0.2.x) send timed robot commands, played as they come. Upstream 0.4.x servers
(v2, v3) declare a client stack in their handshake, which this side runs (`policy.declared_stack`): its schedule
times the chunk, and on v3 its codecs build the model's input and decode the model's raw output. A stack we cannot
run refuses the session as it opens, before an episode records anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from positronic_core.codecs.image_resize import downscale_to_fit, is_image
from positronic_core.policy.declared_stack import DeclaredStack, UnsupportedStack, read_stack
from positronic_core.policy.stack_codecs import is_rgb_image
from positronic_core.robot.commands import Action, action_from_wire
from positronic_core.wire.client import InferenceClient, InferenceError, InferenceSession
from positronic_core.wire.envelope import jpeg_image
from positronic_core.wire.messages import DEFAULT_PORT, TOKEN_ENV


def parse_result(result: Any) -> list[Action]:
    """A reply's `result` as actions; HEAD-era end-of-chunk sentinels (a timestamp and no command) are dropped."""
    if result is None:
        return []
    items = [result] if isinstance(result, Mapping) else result
    if not isinstance(items, list):
        raise InferenceError(f"'result' must be a list of actions or one action, got {type(result).__name__}")
    actions = []
    for item in items:
        if isinstance(item, Mapping) and "robot_command" not in item and "timestamp" in item:
            continue
        try:
            actions.append(action_from_wire(item))
        except ValueError as e:
            raise InferenceError(f"bad action in reply: {e}") from None
    return actions


class RemoteSession:
    def __init__(self, session: InferenceSession, resize: int | None, stack: DeclaredStack | None = None) -> None:
        self._session = session
        self._resize = resize
        self._stack = stack

    def infer(self, observation: Mapping[str, Any]) -> list[Action]:
        if self._resize is not None:
            observation = {k: downscale_to_fit(v, self._resize) if is_image(v) else v for k, v in observation.items()}
        if self._stack is None:
            return parse_result(self._session.infer(observation))
        if self._session.meta.get("compress_images") and not self._session.protocol.returns_model_output:
            # A v2 server that asks for compressed images gets JPEG, as 0.4.x's own client sends (v3 stacks say so
            # themselves, with encode_images).
            observation = {k: jpeg_image(v) if is_rgb_image(v) else v for k, v in observation.items()}
        where = f"policy server at {self._session.client.where} ({self._session.protocol.label})"
        try:
            request = self._stack.encode(observation)
        except (KeyError, ValueError) as e:
            raise InferenceError(f"{where}: its client stack cannot encode this observation: {e}") from None
        result = self._session.infer(request)
        try:
            return self._stack.decode(result)
        except (KeyError, ValueError) as e:
            raise InferenceError(f"{where}: its client stack cannot decode the reply: {e}") from None

    @property
    def last_timing(self) -> dict[str, float] | None:
        return getattr(self._session, "last_timing", None)

    def close(self) -> None:
        self._session.close()


class RemotePolicy:
    """A model on a Positronic inference server (ours, upstream Positronic's, or any protocol v1 server).

    Args:
        host: server hostname or IP.
        port: server port.
        model_id: checkpoint to use; None = the server's default (latest).
        resize: downscale images whose longest side exceeds this many pixels before sending (None = never).
        token: bearer token for servers bound beyond loopback (default: $POSITRONIC_AUTH_TOKEN).
        connect_timeout, infer_timeout: seconds before giving up on connecting / on a reply.
        session_params: parameters an upstream 0.4.x server declares for its sessions (sent in the query string).
    """

    wants_privileged_state = False

    def __init__(self, host: str = "localhost", port: int = DEFAULT_PORT, model_id: str | None = None,
                 resize: int | None = 640, token: str | None = None, connect_timeout: float = 10.0,
                 infer_timeout: float = 120.0, session_params: Mapping[str, Any] | None = None) -> None:
        # An empty variable means no token, as the servers read it.
        token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
        self.client = InferenceClient(host, port, token=token, connect_timeout=connect_timeout,
                                      infer_timeout=infer_timeout)
        self.model_id = None if model_id is None else str(model_id)
        self.resize = resize
        self.session_params = dict(session_params) if session_params else None
        self._server_meta: dict[str, Any] = {}
        self._protocol_version = 1
        self._stack: DeclaredStack | None = None

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"type": "remote", "host": self.client.host, "port": self.client.port}
        if self.model_id is not None:
            meta["model_id"] = self.model_id
        if self._protocol_version > 1:
            meta["protocol_version"] = self._protocol_version
        if self._stack is not None:
            # What this side ran of the declared stack, and what the stack states (its action rate, the metadata
            # codecs it carries), recorded as 0.4.x records its client stack's meta.
            meta["client_stack"] = list(self._stack.components)
            meta["client"] = self._stack.meta
        if self.session_params:
            meta["session_params"] = self.session_params
        for key, value in self._server_meta.items():
            meta[f"server.{key}"] = value
        return meta

    def new_session(self, context: Mapping[str, Any]) -> RemoteSession:
        session = self.client.new_session(self.model_id, self.session_params)
        stack = None
        if session.protocol.runs_declared_stack:
            try:
                stack = read_stack(session.meta, session.protocol.label)
            except UnsupportedStack as e:
                session.close()
                raise InferenceError(f"policy server at {self.client.where}: {e}") from None
        self._server_meta = session.meta
        self._protocol_version = session.protocol.version
        self._stack = stack
        return RemoteSession(session, self.resize, stack)

    def close(self) -> None:
        pass
