"""Upstream Positronic 0.2.1 as a live peer of ours, for the interop tests and the wire benchmark.

Upstream lives in its own virtualenv (`.venv-upstream`: positronic 0.2.1, no torch) because its pins clash with
ours, so it only ever runs in a subprocess. This file is both ends of that arrangement:

- Imported in our venv (tests, `bench/wire.py`): `UpstreamClient` drives upstream's `InferenceClient` and
  `RemotePolicy` in a child process over a JSON-lines pipe; `UpstreamServer` runs upstream's
  `offboard.basic_server.InferenceServer` with the toy policies below.
- Run as a script by the upstream interpreter (`python upstream.py client|serve ...`): it *is* that child.

Both ends use only the standard library and numpy, and both build observations with `guide_observation(seed)`, so
the pipe carries seeds and JSON, never arrays. The child reports what upstream made of each reply (the command
class `roboarm.command.from_wire` built, its values), because upstream's harness decodes replies that way and a
reply it cannot decode stops a real robot run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The upstream interpreter; POSITRONIC_UPSTREAM_PYTHON overrides it.
UPSTREAM_PYTHON = Path(os.environ.get("POSITRONIC_UPSTREAM_PYTHON", REPO_ROOT / ".venv-upstream" / "bin" / "python"))

GUIDE_TASK = "pick up the red cube and place it on the green one"


def guide_observation(seed: int = 0, image_size: tuple[int, int] = (224, 224)) -> dict[str, Any]:
    """The Inference Guide's observation: two uint8 (H, W, 3) cameras, 7-float state vectors, grip and task.

    Deterministic in `seed` and identical in both virtualenvs (numpy's PCG64 stream is version-stable).
    """
    rng = np.random.default_rng(seed)
    height, width = image_size
    quat_wxyz = rng.normal(size=4)
    quat_wxyz /= np.linalg.norm(quat_wxyz)
    return {
        "robot_state.q": rng.uniform(-2.0, 2.0, 7),
        "robot_state.dq": rng.uniform(-0.5, 0.5, 7),
        "robot_state.ee_pose": np.concatenate([rng.uniform(0.2, 0.7, 3), quat_wxyz]),
        "grip": float(rng.uniform(0.0, 1.0)),
        "image.wrist": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "image.exterior": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "task": GUIDE_TASK,
    }


@functools.cache
def upstream_missing_reason() -> str | None:
    """None when upstream Positronic can be run here, else why not (for `pytest.skip`)."""
    if not UPSTREAM_PYTHON.exists():
        return f"upstream Positronic venv not found at {UPSTREAM_PYTHON} (set POSITRONIC_UPSTREAM_PYTHON)"
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('positronic') is None)"
    try:
        done = subprocess.run([str(UPSTREAM_PYTHON), "-c", probe], timeout=60, capture_output=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {UPSTREAM_PYTHON}: {e}"
    if done.returncode != 0:
        return f"{UPSTREAM_PYTHON} has no `positronic` package (pip install positronic==0.2.1 there)"
    return None


class UpstreamError(RuntimeError):
    """An exception raised by upstream code in the child; `error_type` is its class name."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class _Child:
    """A child process on an upstream interpreter (0.2.1's unless told) whose stdout carries one JSON document per
    line; `script` is the file it runs, this one unless told."""

    def __init__(self, args: list[str], name: str, *, python: Path = UPSTREAM_PYTHON,
                 script: Path = Path(__file__).resolve()) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        env.pop("PYTHONPATH", None)
        self._proc = subprocess.Popen(
            [str(python), str(script), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True, bufsize=1)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True).start()

    def _pump(self) -> None:
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_tail(self, chars: int = 3000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-chars:]

    def read(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name} said nothing for {timeout:.0f} s; its stderr:\n{self.stderr_tail()}") \
                from None
        if line is None:
            self._proc.wait(timeout=10)
            raise RuntimeError(f"{self.name} exited with {self._proc.returncode}; its stderr:\n{self.stderr_tail()}")
        return json.loads(line)

    def write(self, message: dict[str, Any]) -> None:
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()

    def stop(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # the child exits when its stdin closes
            except OSError:
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
        self._stderr.close()


class ChildPeer:
    """A peer living in a `_Child` process, stopped with it; usable in `with`."""

    _child: _Child

    def close(self) -> None:
        self._child.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChildCaller(ChildPeer):
    """A peer answering one operation at a time: `call(op, **kwargs)` is its reply's value, or its UpstreamError."""

    def call(self, op: str, timeout: float = 60.0, **kwargs: Any) -> Any:
        self._child.write({"op": op, **kwargs})
        reply = self._child.read(timeout)
        if "error_type" in reply:
            raise UpstreamError(reply["error_type"], reply["error"])
        return reply["value"]


class UpstreamClient(ChildCaller):
    """Upstream's `InferenceClient` / `RemotePolicy` in a child process, one call at a time.

    Every method returns JSON-plain data; exceptions raised by upstream come back as `UpstreamError`.
    """

    def __init__(self, host: str, port: int, *, start_timeout: float = 60.0) -> None:
        self._child = _Child(["client", "--host", host, "--port", str(port)], "upstream client")
        self._child.read(start_timeout)  # {"ready": true} once upstream's modules are imported

    def list_models(self) -> list[str]:
        return self.call("list_models")

    def new_session(self, model_id: str | None = None) -> dict[str, Any]:
        """Opens a session (closing the previous one) and returns the handshake meta."""
        return self.call("new_session", model_id=model_id)

    def infer(self, seed: int, **obs_overrides: Any) -> dict[str, Any]:
        """`session.infer(guide_observation(seed) | overrides)`: {"result": raw reply, "decoded": [...]}."""
        return self.call("infer", seed=seed, overrides=obs_overrides)

    def time_infer(self, seed: int, rounds: int, warmup: int = 10) -> list[float]:
        """Round-trip seconds of `rounds` calls to `session.infer` on the guide observation."""
        return self.call("time_infer", timeout=60.0 + rounds, seed=seed, rounds=rounds, warmup=warmup)


class UpstreamServer(ChildPeer):
    """Upstream's `InferenceServer` on 127.0.0.1 and an ephemeral port, serving the toy policies of `serve`.

    Registry (upstream's default model is the *first* entry, not the latest):
    - `hold`: a chunk of `chunk` cartesian_pos actions holding the observed EE pose, target_grip = observed grip,
      built with upstream's own `geom` and `command.to_wire` (so `pose` is an ndarray, as real upstream servers send);
    - `count`: one joint_pos action (a bare dict, not a list) with q + the number of calls since the session began,
      so a fresh session shows the policy was reset.
    Both raise (an `{"error": ...}` reply) when the observation lacks what they need.
    """

    def __init__(self, *, chunk: int = 3, start_timeout: float = 60.0) -> None:
        self._child = _Child(["serve", "--chunk", str(chunk)], "upstream server")
        self.host = "127.0.0.1"
        self.port = int(self._child.read(start_timeout)["port"])
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.port}/api/v1/models", timeout=2) as response:
                    response.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise TimeoutError(f"upstream server on port {self.port} never answered") from None
                time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------------
# The child side: everything below runs on the upstream interpreter and imports upstream's `positronic`.


def _plain(value: Any) -> Any:
    """JSON-plain copy of a decoded reply (arrays become lists)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _decode_like_upstream_harness(result: Any) -> list[dict[str, Any]]:
    """What upstream's harness makes of a result: `roboarm.command.from_wire` on each action's command."""
    from positronic.drivers.roboarm import command

    actions = result if isinstance(result, list) else [result]
    decoded = []
    for action in actions:
        try:
            cmd = command.from_wire(action["robot_command"])
        except Exception as e:
            decoded.append({"error": f"{type(e).__name__}: {e}"})
            continue
        entry: dict[str, Any] = {"class": type(cmd).__name__, "target_grip": float(action["target_grip"]),
                                 "timestamp": action.get("timestamp")}
        if isinstance(cmd, command.CartesianPosition):
            entry["translation"] = np.asarray(cmd.pose.translation, dtype=float).tolist()
            entry["rotation"] = cmd.pose.rotation.as_rotation_matrix.tolist()
        elif isinstance(cmd, command.JointPosition):
            entry["positions"] = np.asarray(cmd.positions, dtype=float).tolist()
        elif isinstance(cmd, command.JointDelta):
            entry["velocities"] = np.asarray(cmd.velocities, dtype=float).tolist()
        decoded.append(entry)
    return decoded


def _observation(seed: int, overrides: dict[str, Any] | None) -> dict[str, Any]:
    obs = guide_observation(seed)
    for key, value in (overrides or {}).items():
        if value is None:
            obs.pop(key, None)
        else:
            obs[key] = np.asarray(value) if isinstance(value, list) else value
    return obs


def _run_client(host: str, port: int, out: Any) -> None:
    from positronic.offboard.client import InferenceClient
    from positronic.policy.remote import RemotePolicy

    client = InferenceClient(host, port)
    state: dict[str, Any] = {"session": None, "policy": None}

    def close_session() -> None:
        if state["session"] is not None:
            state["session"].close()
            state["session"] = None

    def new_session(model_id: str | None = None) -> Any:
        close_session()
        state["session"] = client.new_session(model_id)
        return state["session"].metadata

    def infer(seed: int, overrides: dict[str, Any] | None = None) -> Any:
        result = state["session"].infer(_observation(seed, overrides))
        return {"result": result, "decoded": _decode_like_upstream_harness(result)}

    def time_infer(seed: int, rounds: int, warmup: int) -> list[float]:
        return time_session_infer(state["session"], _observation(seed, None), rounds, warmup)

    def remote_policy(model_id: str | None = None, resize: int | None = None,
                      horizon_sec: float | None = None) -> None:
        state["policy"] = RemotePolicy(host, port, resize=resize, model_id=model_id, horizon_sec=horizon_sec)

    def policy_select_action(seed: int, overrides: dict[str, Any] | None = None) -> Any:
        result = state["policy"].select_action(_observation(seed, overrides))
        return {"result": result, "decoded": _decode_like_upstream_harness(result)}

    ops = {
        "list_models": lambda: client.list_models(),
        "new_session": new_session,
        "close_session": close_session,
        "infer": infer,
        "time_infer": time_infer,
        "remote_policy": remote_policy,
        "policy_reset": lambda: state["policy"].reset(),
        "policy_select_action": policy_select_action,
        "policy_meta": lambda: state["policy"].meta,
        "policy_close": lambda: state["policy"].close(),
    }
    serve_ops(ops, out)
    close_session()


def time_session_infer(session: Any, obs: dict[str, Any], rounds: int, warmup: int) -> list[float]:
    """Round-trip seconds of `rounds` calls to `session.infer(obs)` after `warmup` untimed ones (either peer's)."""
    for _ in range(warmup):
        session.infer(obs)
    latencies = []
    for _ in range(rounds):
        started = time.perf_counter()
        session.infer(obs)
        latencies.append(time.perf_counter() - started)
    return latencies


def serve_ops(ops: dict[str, Any], out: Any) -> None:
    """The peer side of the JSON-lines pipe: say ready, then answer each {"op", **kwargs} line with its value or
    the error it raised, until stdin closes."""
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            reply = {"value": _plain(ops[op](**request))}
        except Exception as e:
            reply = {"error_type": type(e).__name__, "error": str(e)}
        print(json.dumps(reply), file=out, flush=True)


def _run_server(chunk: int, out: Any) -> None:
    import asyncio
    import socket

    import uvicorn
    from positronic import geom
    from positronic.drivers.roboarm import command
    from positronic.offboard.basic_server import InferenceServer
    from positronic.policy.base import Policy

    class HoldPosePolicy(Policy):
        def select_action(self, obs: dict[str, Any]) -> list[dict[str, Any]]:
            if "robot_state.ee_pose" not in obs:
                raise ValueError("hold needs robot_state.ee_pose")
            pose7 = np.asarray(obs["robot_state.ee_pose"], dtype=np.float64)
            pose = geom.Transform3D(pose7[:3], geom.Rotation.from_quat(pose7[3:]))
            wire = {"robot_command": command.to_wire(command.CartesianPosition(pose=pose)),
                    "target_grip": float(obs["grip"])}
            return [dict(wire) for _ in range(chunk)]

        @property
        def meta(self) -> dict[str, Any]:
            return {"type": "upstream_toy", "name": "hold", "chunk": chunk}

    class CountingJointsPolicy(Policy):
        def __init__(self) -> None:
            self.calls = 0

        def reset(self, context: Any = None) -> None:
            self.calls = 0

        def select_action(self, obs: dict[str, Any]) -> dict[str, Any]:
            if "robot_state.q" not in obs:
                raise ValueError("count needs robot_state.q")
            self.calls += 1
            q = np.asarray(obs["robot_state.q"], dtype=np.float64)
            return {"robot_command": command.to_wire(command.JointPosition(positions=q + self.calls)),
                    "target_grip": 0.0}

        @property
        def meta(self) -> dict[str, Any]:
            return {"type": "upstream_toy", "name": "count"}

    server = InferenceServer({"hold": HoldPosePolicy, "count": CountingJointsPolicy}, "127.0.0.1", 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # Upstream's own `serve()` builds this same uvicorn config from host/port; a pre-bound socket only lets the
    # parent learn the ephemeral port without a race.
    config = uvicorn.Config(server.app, log_level="warning")
    uv = uvicorn.Server(config)
    print(json.dumps({"port": sock.getsockname()[1]}), file=out, flush=True)
    asyncio.run(uv.serve(sockets=[sock]))


def _exit_when_parent_leaves() -> None:
    """Reads stdin to its end (the parent closed it or died), then exits the whole child."""
    for _ in sys.stdin:
        pass
    os._exit(0)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Upstream Positronic 0.2.1 peer (run by the upstream interpreter).")
    sub = parser.add_subparsers(dest="role", required=True)
    client = sub.add_parser("client", help="drive upstream's InferenceClient over a JSON-lines pipe")
    client.add_argument("--host", default="127.0.0.1")
    client.add_argument("--port", type=int, required=True)
    serve = sub.add_parser("serve", help="serve toy policies with upstream's InferenceServer")
    serve.add_argument("--chunk", type=int, default=3)
    args = parser.parse_args()
    # The pipe protocol owns the real stdout; anything upstream prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    if args.role == "client":
        _run_client(args.host, args.port, out)
    else:
        threading.Thread(target=_exit_when_parent_leaves, daemon=True).start()
        _run_server(args.chunk, out)


if __name__ == "__main__":
    _main()
