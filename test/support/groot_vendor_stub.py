"""A stand-in for GR00T's `gr00t/eval/run_gr00t_server.py`: the real ZeroMQ REP wire with no model behind it.

It takes the real server's flags (`--model_path`, `--embodiment_tag`, `--modality_config_path`, `--host`, `--port`)
and speaks its documented wire: msgpack maps `{"endpoint", "data"}`, ndarrays as
`{"__ndarray_class__": True, "as_npy": <.npy bytes>}`, `ping` / `get_action` / `reset` / `kill`, errors as
`{"error": str}`. The framing is written here independently of `positronic_core.serve.backends.groot_wire`, so a
mistake in one does not hide in the other.

The observation is checked the way `Gr00tPolicy.check_observation` checks it (nested `video` / `state` /
`language`, dtypes, (B, T, ...) shapes), against the keys the modality config's name implies (`rot6d` -> a 9-value
`ee_pose`, else 7; `joints` -> a 7-value `joint_position`). The "model" answers, for each batch element, `--horizon`
steps of `ee_pose` = the observed `ee_pose` with x moved by 0.01 * (step + 1), and `grip` = 1 - the observed grip.

Test knobs: `--die_after_actions=N` exits (code 3) on the N+1th get_action without answering; `--never_ready` never
binds; `--startup_delay=S` binds after S seconds; `--pid_file` gets this process's pid (and its child's, with
`--spawn_child`); `--log_file` gets one line per request served.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from pathlib import Path

# numpy, msgpack and zmq are imported where used: the pid file and the never-ready mode must not wait for seconds of
# imports on a loaded machine.

LANGUAGE_KEY = "annotation.language.language_instruction"
IMAGE_SIZE = 224


def to_bytes(document) -> bytes:
    import msgpack
    import numpy as np

    def default(obj):
        if isinstance(obj, np.ndarray):
            buffer = io.BytesIO()
            np.save(buffer, obj, allow_pickle=False)
            return {"__ndarray_class__": True, "as_npy": buffer.getvalue()}
        return obj

    return msgpack.packb(document, default=default)


def from_bytes(payload: bytes):
    import msgpack
    import numpy as np

    def hook(obj):
        if "__ndarray_class__" in obj:
            return np.load(io.BytesIO(obj["as_npy"]), allow_pickle=False)
        return obj

    return msgpack.unpackb(payload, object_hook=hook)


def expected_state(modality_config: str) -> dict[str, int]:
    name = Path(modality_config).name
    state = {"ee_pose": 9 if "rot6d" in name else 7, "grip": 1}
    if "joints" in name:
        state["joint_position"] = 7
    return state


def check_observation(observation, state_dims: dict[str, int]) -> int:
    """The batch size, or AssertionError describing what GR00T would refuse."""
    import numpy as np

    for modality in ("video", "state", "language"):
        assert isinstance(observation.get(modality), dict), f"Observation must contain a '{modality}' dict"
    batch = None
    for key in ("wrist_image", "exterior_image_1"):
        video = observation["video"].get(key)
        assert isinstance(video, np.ndarray), f"Video key '{key}' must be a numpy array"
        assert video.dtype == np.uint8, f"Video key '{key}' must be uint8, got {video.dtype}"
        assert video.ndim == 5 and video.shape[1] == 1 and video.shape[-1] == 3, \
            f"Video key '{key}' must be (B, 1, H, W, 3), got {video.shape}"
        assert video.shape[2:4] == (IMAGE_SIZE, IMAGE_SIZE), f"Video key '{key}' must be 224x224, got {video.shape}"
        batch = video.shape[0] if batch is None else batch
        assert video.shape[0] == batch, "inconsistent batch sizes"
    for key, dim in state_dims.items():
        state = observation["state"].get(key)
        assert isinstance(state, np.ndarray), f"State key '{key}' must be a numpy array"
        assert state.dtype == np.float32, f"State key '{key}' must be float32, got {state.dtype}"
        assert state.shape == (batch, 1, dim), f"State key '{key}' must be ({batch}, 1, {dim}), got {state.shape}"
    language = observation["language"].get(LANGUAGE_KEY)
    assert isinstance(language, list) and len(language) == batch, f"Language key '{LANGUAGE_KEY}' must be a list"
    for item in language:
        assert isinstance(item, list) and len(item) == 1 and isinstance(item[0], str), \
            f"Language batch item must be a list of one string, got {item!r}"
    return batch


def answer(observation, state_dims: dict[str, int], horizon: int):
    import numpy as np

    check_observation(observation, state_dims)
    pose = observation["state"]["ee_pose"][:, -1, :]  # (B, D)
    steps = np.arange(1, horizon + 1, dtype=np.float32)
    ee = np.repeat(pose[:, None, :], horizon, axis=1)
    ee[:, :, 0] += 0.01 * steps
    grip = np.repeat(1.0 - observation["state"]["grip"][:, -1:, :], horizon, axis=1)
    return [{"ee_pose": ee.astype(np.float32), "grip": grip.astype(np.float32)}, {}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--embodiment_tag", default="NEW_EMBODIMENT")
    parser.add_argument("--modality_config_path", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5555)
    parser.add_argument("--horizon", type=int, default=16)
    parser.add_argument("--die_after_actions", type=int, default=None)
    parser.add_argument("--never_ready", action="store_true")
    parser.add_argument("--startup_delay", type=float, default=0.0)
    parser.add_argument("--pid_file", default=None)
    parser.add_argument("--spawn_child", action="store_true")
    parser.add_argument("--log_file", default=None)
    args = parser.parse_args()

    if not Path(args.model_path).is_dir():
        sys.exit(f"model path {args.model_path} is not a directory")
    pids = [os.getpid()]
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pids.append(child.pid)
    if args.pid_file:  # written whole, then renamed: a reader never sees half of it
        Path(args.pid_file + ".tmp").write_text("\n".join(map(str, pids)) + "\n")
        os.replace(args.pid_file + ".tmp", args.pid_file)
    if args.never_ready:
        time.sleep(600)
        return
    time.sleep(args.startup_delay)

    import zmq

    state_dims = expected_state(args.modality_config_path)
    socket = zmq.Context().socket(zmq.REP)
    socket.bind(f"tcp://{args.host}:{args.port}")
    print(f"Server is ready and listening on tcp://{args.host}:{args.port}", file=sys.stderr, flush=True)
    actions_served = 0
    while True:
        request = from_bytes(socket.recv())
        endpoint = request.get("endpoint", "get_action")
        if args.log_file:
            with open(args.log_file, "a") as log:
                log.write(endpoint + "\n")
        try:
            if endpoint == "ping":
                reply = {"status": "ok", "message": "Server is running"}
            elif endpoint == "kill":
                socket.send(to_bytes({}))
                return
            elif endpoint == "reset":
                reply = {}
            elif endpoint == "get_action":
                if args.die_after_actions is not None and actions_served >= args.die_after_actions:
                    print("stand-in GR00T server: dying as asked", file=sys.stderr, flush=True)
                    os._exit(3)
                reply = answer(request["data"]["observation"], state_dims, args.horizon)
                actions_served += 1
            else:
                raise ValueError(f"Unknown endpoint: {endpoint}")
        except Exception as e:  # the real server answers every failure with {"error": str(e)}
            reply = {"error": str(e)}
        socket.send(to_bytes(reply))


if __name__ == "__main__":
    main()
