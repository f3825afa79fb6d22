"""A stand-in for openpi's `scripts/serve_policy.py`, speaking openpi's real wire with openpi-client's msgpack_numpy.

openpi itself (JAX, a GPU-sized checkpoint) is not installable here. Like openpi's `WebsocketPolicyServer`, this
loads its "policy" before it listens, sends the policy metadata as the first frame of every connection, answers
each msgpack-numpy observation with `{"actions": (horizon, dim), "server_timing": ...}`, and on an exception sends
the traceback as a text frame and closes with 1011.

Its policy is a checkable function of the input: action row i is `observation/state[:dim]` with 0.01 * i added to
its first value. It checks the inputs as openpi's Positronic policy would read them (state float32, both images
uint8 224x224x3, prompt a string) and raises on anything else. Requests are appended to --log as JSON lines.

Flags: --port, --policy.dir (must exist, as openpi loads from it), --horizon, --startup_s (before listening),
--never_listen, --pid_file (writes "<pid> 0"), --die_when=FILE (the next observation after FILE appears makes the
process exit at once, without a reply, after deleting FILE).
"""

import argparse
import os
import sys
import time
from pathlib import Path

IMAGE_KEYS = ("observation/image", "observation/wrist_image")


def act(observation: dict, horizon: int):
    import numpy as np

    state = observation["observation/state"]
    if not isinstance(state, np.ndarray) or state.dtype != np.float32 or state.ndim != 1:
        raise TypeError(f"observation/state must be a float32 vector, got {state!r:.80}")
    for key in IMAGE_KEYS:
        image = observation[key]
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (224, 224, 3):
            raise TypeError(f"{key} must be uint8 (224, 224, 3), got {getattr(image, 'shape', image)!r:.80}")
    prompt = observation.get("prompt", "")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    if prompt == "raise":
        raise RuntimeError("the stand-in policy was told to raise")
    actions = np.tile(state[:8].astype(np.float32), (horizon, 1))
    actions[:, 0] += 0.01 * np.arange(horizon, dtype=np.float32)
    return actions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--policy.dir", dest="policy_dir", required=True)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--startup_s", type=float, default=0.0)
    parser.add_argument("--never_listen", action="store_true")
    parser.add_argument("--pid_file")
    parser.add_argument("--die_when")
    parser.add_argument("--log")
    args = parser.parse_args()

    if not Path(args.policy_dir).is_dir():
        print(f"FileNotFoundError: checkpoint {args.policy_dir} not found", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.pid_file:
        Path(args.pid_file).write_text(f"{os.getpid()} 0")
    time.sleep(args.startup_s)
    if args.never_listen:
        time.sleep(600)
        return
    serve(args)


def serve(args: argparse.Namespace) -> None:
    # Imported only now, so that the pid file is written within milliseconds of the start.
    import asyncio
    import json
    import traceback

    import numpy as np
    import websockets
    from openpi_client import msgpack_numpy

    metadata = {"stand_in": True, "checkpoint": str(Path(args.policy_dir).resolve()), "horizon": args.horizon}
    packer = msgpack_numpy.Packer()

    async def handler(websocket) -> None:
        await websocket.send(packer.pack(metadata))
        async for message in websocket:
            if args.die_when and os.path.exists(args.die_when):
                os.remove(args.die_when)
                os._exit(17)
            try:
                observation = msgpack_numpy.unpackb(message)
                started = time.monotonic()
                actions = act(observation, args.horizon)
                if args.log:
                    with open(args.log, "a") as log:
                        entry = {k: (list(v.shape) if isinstance(v, np.ndarray) else v) for k, v in observation.items()}
                        entry["state"] = observation["observation/state"].tolist()
                        log.write(json.dumps(entry) + "\n")
                await websocket.send(packer.pack({"actions": actions,
                                                  "server_timing": {"infer_ms": (time.monotonic() - started) * 1e3}}))
            except Exception:
                await websocket.send(traceback.format_exc())
                await websocket.close(code=1011, reason="Internal server error")
                return

    async def listen() -> None:
        async with websockets.serve(handler, "127.0.0.1", args.port, compression=None, max_size=None):
            await asyncio.Future()

    asyncio.run(listen())


if __name__ == "__main__":
    main()
