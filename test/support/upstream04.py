"""Upstream Positronic 0.4.1 as a live client of our server, for the interop tests.

0.4.1 lives in its own virtualenv (`.venv-upstream04`, which `make test` creates) because its pins clash with ours
and with 0.2.1's. Like `upstream.py`, this file is both ends: imported in our venv, `Upstream04Client` drives
0.4.1's `InferenceClient` in a child over a JSON-lines pipe and `run_upstream04_sim` runs its
`positronic-inference sim`; run by the 0.4.1 interpreter (`python upstream04.py client ...`), it is that child.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from upstream import REPO_ROOT, ChildCaller, _Child, _observation, serve_ops, time_session_infer

#: The 0.4.1 interpreter; POSITRONIC_UPSTREAM04_PYTHON overrides it.
UPSTREAM04_PYTHON = Path(
    os.environ.get("POSITRONIC_UPSTREAM04_PYTHON", REPO_ROOT / ".venv-upstream04" / "bin" / "python"))
UPSTREAM04_VERSION = "0.4.1"


@functools.cache
def upstream04_missing_reason() -> str | None:
    """None when upstream Positronic 0.4.1 can be run here, else why not (for `pytest.skip`)."""
    if not UPSTREAM04_PYTHON.exists():
        return (f"upstream Positronic {UPSTREAM04_VERSION} venv not found at {UPSTREAM04_PYTHON} (`make test` "
                "creates it; POSITRONIC_UPSTREAM04_PYTHON names another)")
    probe = "import importlib.metadata as m; print(m.version('positronic'))"
    try:
        done = subprocess.run([str(UPSTREAM04_PYTHON), "-c", probe], timeout=60, capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {UPSTREAM04_PYTHON}: {e}"
    if done.returncode != 0 or done.stdout.strip() != UPSTREAM04_VERSION:
        found = done.stdout.strip() or done.stderr[-300:]
        return f"{UPSTREAM04_PYTHON} has no positronic=={UPSTREAM04_VERSION}: {found}"
    return None


class Upstream04Client(ChildCaller):
    """0.4.1's `InferenceClient` on ws://host:port/api/v1/session in a child process, one call at a time.

    Every method returns JSON-plain data; exceptions raised by 0.4.1 come back as `UpstreamError`.
    """

    def __init__(self, host: str, port: int, *, start_timeout: float = 120.0) -> None:
        self._child = _Child(["client", "--host", host, "--port", str(port)], "upstream 0.4.1 client",
                             python=UPSTREAM04_PYTHON, script=Path(__file__).resolve())
        self._child.read(start_timeout)  # {"ready": true} once 0.4.1's modules are imported

    def new_session(self) -> dict[str, Any]:
        return self.call("new_session")

    def time_infer(self, seed: int, rounds: int, warmup: int = 10) -> list[float]:
        """Round-trip seconds of `rounds` raw `session.infer` calls on the guide observation (a session is open)."""
        return self.call("time_infer", timeout=60.0 + rounds, seed=seed, rounds=rounds, warmup=warmup)


def run_upstream04_sim(host: str, port: int, output_dir: Path, *, sim_seconds: float,
                       timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """0.4.1's `positronic-inference sim --policy=.remote` for one trial of `sim_seconds` simulated seconds."""
    command = [str(UPSTREAM04_PYTHON.parent / "positronic-inference"), "sim", "--policy=.remote",
               f"--policy.address.host={host}", f"--policy.address.port={port}", f"--eval.timeout={sim_seconds}",
               "--eval.trial_count=1", "--eval.seed=0", f"--output_dir={output_dir}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    env.pop("PYTHONPATH", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=output_dir)


# ---------------------------------------------------------------------------------------------------------------
# The child side: everything below runs on the 0.4.1 interpreter and imports its `positronic`.


def _decode_typed(result: Any) -> list[dict[str, Any]]:
    """What 0.4.1's v1 session made of each action: the command class it typed, its values, the grip."""
    from positronic.drivers.roboarm import command

    actions = result if isinstance(result, list) else [result]
    decoded = []
    for action in actions:
        cmd = action["robot_command"]
        entry: dict[str, Any] = {"class": type(cmd).__name__, "target_grip": float(action["target_grip"]),
                                 "timestamp": action.get("timestamp")}
        if isinstance(cmd, command.CartesianPosition):
            entry["translation"] = np.asarray(cmd.pose.translation, dtype=float).tolist()
            entry["rotation"] = cmd.pose.rotation.as_rotation_matrix.tolist()
        decoded.append(entry)
    return decoded


def _run_client(host: str, port: int, out: Any) -> None:
    from positronic.offboard.client import InferenceClient
    from positronic.policy.remote import declared_stack
    from positronic_wire import registry
    from positronic_wire.wire import SESSION_PATH, HostPortAddress

    client = InferenceClient(registry.client_wire("websocket"), HostPortAddress(host, port, SESSION_PATH, ""),
                             connect_deadline=30.0)
    state: dict[str, Any] = {"session": None}

    def close_session() -> None:
        if state["session"] is not None:
            state["session"].close()
            state["session"] = None

    def new_session() -> dict[str, Any]:
        close_session()
        session = state["session"] = client.new_session()
        stack = declared_stack(session.metadata, session.protocol_version)
        # The layers in the order they run; 0.4.1 has no public listing, and not every layer has a wire spec.
        layers = [type(layer).__name__ for layer in getattr(stack, "_components", (stack,))]
        return {"protocol_version": session.protocol_version.value, "session_id": session.session_id,
                "meta": session.metadata, "stack": layers, "stack_meta": stack.meta()}

    def infer(seed: int, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return _decode_typed(state["session"].infer(_observation(seed, overrides)))

    def time_infer(seed: int, rounds: int, warmup: int) -> list[float]:
        return time_session_infer(state["session"], _observation(seed, None), rounds, warmup)

    ops = {
        "keepalive": client.keepalive,
        "wait_for_server": client.wait_for_server,
        "new_session": new_session,
        "infer": infer,
        "close_session": close_session,
        "time_infer": time_infer,
    }
    serve_ops(ops, out)
    close_session()


def _main() -> None:
    parser = argparse.ArgumentParser(description="Upstream Positronic 0.4.1 peer (run by its interpreter).")
    sub = parser.add_subparsers(dest="role", required=True)
    client = sub.add_parser("client", help="drive 0.4.1's InferenceClient over a JSON-lines pipe")
    client.add_argument("--host", default="127.0.0.1")
    client.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The pipe protocol owns the real stdout; anything 0.4.1 prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    _run_client(args.host, args.port, out)


if __name__ == "__main__":
    _main()
