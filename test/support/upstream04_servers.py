"""Upstream Positronic 0.4.1's own servers, live on 127.0.0.1, for testing OUR client against them.

Both run in `.venv-upstream04` as children of the test (this file is both ends, like `upstream04.py`):
- `Upstream04Server("v2")`: `positronic.offboard.server.PolicyServer` (protocol v2) serving a hold-pose model
  through 0.4.1's own server codec (`SelectObservationFields & AbsolutePositionAction | SplitActionChunk`), so its
  replies are robot commands in 0.4.1's `__cmd__` envelopes; its declared client stack is 0.4.1's
  `PauseOnUnavailable` then `ChunkedSchedule(fps)`.
- `Upstream04Server("v3")`: `positronic_model_server.ModelServer` (protocol v3) whose sessions return the model's raw
  `{"action": (chunk, D)}` array and declare the client stack that decodes it, built with 0.4.1's own
  `component`/`sequence`/`parallel`. The session parameter `kind` picks the stack: `ee` (absolute EE pose, in the
  rotation representation the parameter `rotation` names, converted by 0.4.1's own `geom`), `joints` (absolute joint
  positions, binarized grip), `images` (as `ee`, plus the wrist camera sent as JPEG by the stack's `encode_images`;
  the model answers, as the grip, the share of its pixels that are pure black or white, which JPEG blurs), or
  `unsupported` (temporal stacking and a Cartesian delta, which our client does not implement).
Each model holds the observed pose (or joints) and grip, so a test can check what came back; each stack is checked
by 0.4.1's own client-side `from_spec` before it is served, so it is one 0.4.1 itself would run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from upstream import ChildPeer, _Child
from upstream04 import UPSTREAM04_PYTHON

CHUNK = 4
FPS = 15.0


class Upstream04Server(ChildPeer):
    """One of 0.4.1's servers (`kind` "v2" or "v3") on 127.0.0.1 and an ephemeral port, until closed."""

    def __init__(self, kind: str, *, token: str | None = None, chunk: int = CHUNK, fps: float = FPS,
                 start_timeout: float = 120.0) -> None:
        args = [kind, "--chunk", str(chunk), "--fps", str(fps)] + (["--token", token] if token else [])
        self._child = _Child(args, f"upstream 0.4.1 {kind} server", python=UPSTREAM04_PYTHON,
                             script=Path(__file__).resolve())
        self.host = "127.0.0.1"
        self.port = int(self._child.read(start_timeout)["port"])

    def stderr_tail(self) -> str:
        return self._child.stderr_tail()


# ---------------------------------------------------------------------------------------------------------------
# The child side: runs on the 0.4.1 interpreter.


def _held(obs: dict[str, Any], fields: tuple[str, ...], chunk: int) -> Any:
    import numpy as np

    row = np.concatenate([np.asarray(obs[f], dtype=np.float32).reshape(-1) for f in fields])
    return np.tile(row, (chunk, 1))


def _serve_v2(chunk: int, fps: float, token: str | None, announce: Any) -> Any:
    from positronic.offboard.server import PolicyServer
    from positronic.offboard.spec import Model, PolicyDeployment
    from positronic.policy.codecs import SelectObservationFields
    from positronic.policy.codecs.action import AbsolutePositionAction, SplitActionChunk
    from positronic.policy.processors import ChunkedSchedule, PauseOnUnavailable
    from positronic.policy.sequential import Sequential
    from positronic_model_server.server_wire import ServedHostPort
    from positronic_model_server.websocket_wire import WebsocketWire

    class HoldModel(Model):
        def __init__(self) -> None:
            self.calls: dict[str, int] = {}

        def __call__(self, obs: dict[str, Any], *, session_id: str) -> Any:
            self.calls[session_id] = self.calls.get(session_id, 0) + 1
            return {"action": _held(obs, ("pose", "grip"), chunk)}

        def end_session(self, session_id: str) -> None:
            self.calls.pop(session_id, None)

        def meta(self) -> dict[str, Any]:
            return {"type": "upstream04_hold", "checkpoint_id": "hold-v2"}

    codec = (SelectObservationFields({"pose": "robot_state.ee_pose", "grip": "grip"})
             & AbsolutePositionAction("robot_command.pose", "target_grip", rotation_rep="quat")) | SplitActionChunk()
    deployment = PolicyDeployment(Sequential(PauseOnUnavailable(), ChunkedSchedule(fps=fps)), codec)
    server = PolicyServer(HoldModel, deployment, auth_token=token)
    wire = WebsocketWire(ServedHostPort("127.0.0.1", 0))
    return server, [wire], lambda: announce(wire.served_address.port)


def _stack(kind: str, fps: float, rotation: str = "quat") -> dict[str, Any]:
    from positronic_model_server.spec import component, parallel, sequence

    schedule = component("chunked_schedule", fps=fps)
    if kind == "ee":
        return sequence(schedule, component("metadata", values={"embodiment": "franka"}), parallel(
            component("select_observation_fields", mapping={"pose": "robot_state.ee_pose", "grip": "grip"}),
            component("absolute_position_action", tgt_ee_pose_key="robot_command.pose", tgt_grip_key="target_grip",
                      rotation_rep=rotation)), component("split_action_chunk"))
    if kind == "images":
        return sequence(schedule, parallel(
            component("select_observation_fields",
                      mapping={"pose": "robot_state.ee_pose", "grip": "grip", "wrist": "image.wrist"}),
            component("absolute_position_action", tgt_ee_pose_key="robot_command.pose", tgt_grip_key="target_grip",
                      rotation_rep=rotation)), component("split_action_chunk"), component("encode_images"))
    if kind == "joints":
        return sequence(schedule, component("binarize_grip_inference"), parallel(
            component("state_observation", state={"state": {"robot_state.q": 7, "grip": 1}}),
            component("absolute_joints_action", tgt_joints_key="robot_command.joints", tgt_grip_key="target_grip")),
            component("split_action_chunk"))
    if kind == "unsupported":
        return sequence(component("stop_on_fault"),
                        component("temporal_stack", keys=["image.wrist"], offsets_sec=[-0.1, 0.0]), schedule,
                        parallel(component("select_observation_fields", mapping={"pose": "robot_state.ee_pose"}),
                                 component("cartesian_delta_action")),
                        component("split_action_chunk"))
    raise ValueError(f"unknown stack kind {kind!r}")


def _serve_v3(chunk: int, fps: float, token: str | None, announce: Any) -> Any:
    import numpy as np
    from positronic import geom
    from positronic.policy.spec import from_spec
    from positronic_model_server.server import Model, ModelServer, Session
    from positronic_model_server.server_wire import ServedHostPort
    from positronic_model_server.websocket_wire import WebsocketWire

    for kind in ("ee", "images", "joints", "unsupported"):
        from_spec(_stack(kind, fps))  # 0.4.1's own client must be able to run every stack served here

    class HoldSession(Session):
        def __init__(self, kind: str, rotation: str) -> None:
            super().__init__(_stack(kind, fps, rotation), metadata={"stack_kind": kind})
            self.kind, self.rotation = kind, geom.Rotation.Representation(rotation)

        def infer(self, observation: Any) -> Any:
            if self.kind == "joints":
                return {"action": _held({"state": observation["state"]}, ("state",), chunk)}
            pose = np.asarray(observation["pose"], dtype=np.float64)
            target = geom.Transform3D(pose[:3], geom.Rotation.from_quat(pose[3:])).as_vector(self.rotation)
            grip = observation["grip"]
            if self.kind == "images":
                wrist = observation["wrist"]  # 0.4.1's deserialiser has decoded the JPEG back into an array
                if not (isinstance(wrist, np.ndarray) and wrist.dtype == np.uint8 and wrist.ndim == 3):
                    raise ValueError(f"the wrist image arrived as {type(wrist).__name__}")
                grip = float(np.isin(wrist, (0, 255)).mean())
            return {"action": _held({"target": target, "grip": grip}, ("target", "grip"), chunk)}

    class HoldModel(Model):
        def __init__(self) -> None:
            super().__init__(parameters={"kind": "ee", "rotation": "quat"},
                             metadata={"type": "upstream04_hold", "checkpoint_id": "hold-v3"})

        def prepare_session(self, params: dict[str, Any]) -> Session:
            return HoldSession(params["kind"], params["rotation"])

    server = ModelServer(HoldModel, auth_token=token)
    wire = WebsocketWire(ServedHostPort("127.0.0.1", 0))
    return server, [wire], lambda: announce(wire.served_address.port)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Upstream Positronic 0.4.1 servers (run by its interpreter).")
    parser.add_argument("kind", choices=("v2", "v3"))
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--fps", type=float, default=FPS)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the pipe owns the real stdout; anything 0.4.1 prints goes to stderr

    def announce(port: int) -> None:
        out.write(json.dumps({"port": port}) + "\n")
        out.flush()

    build = _serve_v2 if args.kind == "v2" else _serve_v3
    server, wires, on_ready = build(args.chunk, args.fps, args.token, announce)

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    server.serve(wires, on_ready=on_ready)


if __name__ == "__main__":
    _main()
