"""Protocol v1 round-trip latency and model-server throughput, with every baseline measured in the same run.

Round trip: the Inference Guide's observation (two 224x224x3 uint8 cameras, q / dq / ee_pose as 7 float64s, grip,
task; 295 KiB of msgpack) against a null model (one action back), over 127.0.0.1:

  (a) our client       -> our server (hold_pose, chunk 1)
  (b) upstream client  -> our server            (upstream 0.2.1 in its venv; its timing loop runs there)
  (c) upstream client  -> upstream server        (both upstream 0.2.1; they negotiate permessage-deflate)
  (d) bare websockets + msgpack, compression=None: the server decodes the frame, answers a fixed small reply
  (e) openpi-client's WebsocketClientPolicy -> an openpi-style server (ws on /, metadata first, {"actions": array})
  (f) openpi-client's WebsocketClientPolicy -> our server's openpi endpoint (--openpi_port; hold_pose, chunk 1)
  (e) and (f) send the same observation in openpi's `ee` layout (observation/state, the two cameras, prompt).
  (g) upstream 0.4.1's InferenceClient -> our server   (0.4.1 in its venv; its raw v1 session)
  (h) upstream 0.4.1's InferenceClient -> 0.4.1's own PolicyServer (protocol v2; 0.4.1 sends JPEG images there,
      as its server's meta asks)
  floor: raw TCP, the same bytes with a length prefix, a fixed small reply

Every case is set up first and then measured in interleaved blocks (a, b, c, ... then b, c, ..., a, ...), so load
from other work on a shared machine falls on all of them alike.

Throughput: actions per second from the tiny ACT checkpoint (test/support/tiny_act.py) served by our server to 1, 4
and 8 concurrent sessions, with cross-session batching on and off, beside the server's own model time per
observation.

    .venv/bin/python bench/wire.py [--quick] [--rounds N] [--device auto|cpu|cuda] [--skip-upstream] [--skip-act]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
from common.round_trips import WARMUP, Measure, timer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "support"))

from upstream import (  # noqa: E402
    UpstreamClient,
    UpstreamServer,
    guide_observation,
    upstream_missing_reason,
)
from upstream04 import Upstream04Client, upstream04_missing_reason  # noqa: E402
from upstream04_servers import Upstream04Server  # noqa: E402

from positronic_core.serve.backends.hold_pose import HoldPoseSource  # noqa: E402
from positronic_core.serve.openpi_layout import IMAGE_KEYS, PROMPT_KEY, STATE_KEY  # noqa: E402
from positronic_core.serve.server import ServerConfig, running_server  # noqa: E402
from positronic_core.wire.client import InferenceClient  # noqa: E402
from positronic_core.wire.envelope import packb  # noqa: E402

BLOCKS = 5
SMALL_REPLY = msgpack.packb({"result": [{"robot_command": {"type": "cartesian_pos", "pose": [0.0] * 12},
                                         "target_grip": 0.0}]})

def _stats(latencies_s: list[float]) -> tuple[float, float]:
    ms = np.asarray(latencies_s) * 1000.0
    return float(np.median(ms)), float(np.percentile(ms, 99))


@contextmanager
def _asyncio_thread(start: Callable[[], Awaitable[Any]]) -> Iterator[Any]:
    """Runs `start()` (which returns a server with `.close()`/`.wait_closed()`) on an event loop in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-server", daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield server
    finally:
        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


# ---------------------------------------------------------------------------------------------------------------
# Round-trip cases: each a context manager yielding its timer


@contextmanager
def ours_vs_ours(obs: dict[str, Any]) -> Iterator[Measure]:
    with running_server(HoldPoseSource(chunk_size=1)) as server:
        with InferenceClient("127.0.0.1", server.port).new_session() as session:
            yield timer(lambda: session.infer(obs))


def _upstream_timer(client: UpstreamClient | Upstream04Client) -> Measure:
    client.new_session()
    client.time_infer(seed=0, rounds=WARMUP, warmup=0)
    return lambda rounds: client.time_infer(seed=0, rounds=rounds, warmup=0)


@contextmanager
def upstream_vs_ours() -> Iterator[Measure]:
    with running_server(HoldPoseSource(chunk_size=1)) as server, UpstreamClient("127.0.0.1", server.port) as client:
        yield _upstream_timer(client)


@contextmanager
def upstream_vs_upstream() -> Iterator[Measure]:
    with UpstreamServer(chunk=1) as server, UpstreamClient(server.host, server.port) as client:
        yield _upstream_timer(client)


@contextmanager
def upstream04_vs_ours() -> Iterator[Measure]:
    with running_server(HoldPoseSource(chunk_size=1)) as server, \
            Upstream04Client("127.0.0.1", server.port) as client:
        yield _upstream_timer(client)


@contextmanager
def upstream04_vs_upstream04() -> Iterator[Measure]:
    with Upstream04Server("v2", chunk=1) as server, Upstream04Client(server.host, server.port) as client:
        yield _upstream_timer(client)


def _bare_numpy(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": list(obj.shape)}
    return obj


@contextmanager
def bare_websockets(obs: dict[str, Any]) -> Iterator[Measure]:
    from websockets.asyncio.server import serve
    from websockets.sync.client import connect

    async def handler(ws: Any) -> None:
        async for frame in ws:
            msgpack.unpackb(frame)
            await ws.send(SMALL_REPLY)

    async def start() -> Any:
        return await serve(handler, "127.0.0.1", 0, compression=None, max_size=None)

    with _asyncio_thread(start) as server:
        port = server.sockets[0].getsockname()[1]
        with connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws:
            def call() -> None:
                ws.send(msgpack.packb(obs, default=_bare_numpy))
                msgpack.unpackb(ws.recv())

            yield timer(call)


def openpi_observation(obs: dict[str, Any]) -> dict[str, Any]:
    """The guide observation in openpi's `ee` layout, as an openpi user's robot sends it."""
    openpi_obs = {STATE_KEY: np.append(obs["robot_state.ee_pose"], obs["grip"]).astype(np.float32),
                  PROMPT_KEY: obs["task"]}
    openpi_obs.update({openpi_key: obs[key] for openpi_key, key in IMAGE_KEYS.items()})
    return openpi_obs


@contextmanager
def openpi_vs_ours(openpi_obs: dict[str, Any]) -> Iterator[Measure]:
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    with running_server(HoldPoseSource(chunk_size=1), ServerConfig(port=0, openpi_port=0)) as server:
        policy = WebsocketClientPolicy("127.0.0.1", server.openpi.port)
        try:
            yield timer(lambda: policy.infer(openpi_obs))
        finally:
            policy._ws.close()  # the client has no close(); its socket is its only resource


@contextmanager
def openpi_client(obs: dict[str, Any]) -> Iterator[Measure]:
    from openpi_client import msgpack_numpy
    from openpi_client.websocket_client_policy import WebsocketClientPolicy
    from websockets.asyncio.server import serve

    actions = np.zeros((1, 8))

    async def handler(ws: Any) -> None:
        # openpi's policy server: metadata first, then {"actions": (horizon, dim)} per observation.
        await ws.send(msgpack_numpy.packb({"model": "null"}))
        async for frame in ws:
            msgpack_numpy.unpackb(frame)
            await ws.send(msgpack_numpy.packb({"actions": actions}))

    async def start() -> Any:
        return await serve(handler, "127.0.0.1", 0, compression=None, max_size=None)

    with _asyncio_thread(start) as server:
        policy = WebsocketClientPolicy("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            yield timer(lambda: policy.infer(obs))
        finally:
            policy._ws.close()  # the client has no close(); its socket is its only resource


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = conn.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


@contextmanager
def raw_tcp(payload: bytes) -> Iterator[Measure]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                while True:
                    (size,) = struct.unpack("!I", _recv_exactly(conn, 4))
                    _recv_exactly(conn, size)
                    conn.sendall(struct.pack("!I", len(SMALL_REPLY)) + SMALL_REPLY)
            except (ConnectionError, OSError):
                pass

    thread = threading.Thread(target=serve, name="tcp-floor", daemon=True)
    thread.start()
    framed = struct.pack("!I", len(payload)) + payload
    try:
        with socket.create_connection(listener.getsockname()) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def call() -> None:
                conn.sendall(framed)
                (size,) = struct.unpack("!I", _recv_exactly(conn, 4))
                _recv_exactly(conn, size)

            yield timer(call)
    finally:
        thread.join(timeout=10)
        listener.close()


def measure_round_trips(cases: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Sets every case up, then times them in `BLOCKS` interleaved blocks, rotating the order each block."""
    latencies: dict[str, list[float]] = {key: [] for key in cases}
    with ExitStack() as stack:
        timers = {key: stack.enter_context(make()) for key, make in cases.items()}
        keys = list(timers)
        per_block = max(1, rounds // BLOCKS)
        for block in range(BLOCKS):
            for key in keys[block % len(keys):] + keys[: block % len(keys)]:
                latencies[key].extend(timers[key](per_block))
    return latencies


# ---------------------------------------------------------------------------------------------------------------
# ACT throughput


def act_throughput(device: str, sessions_list: list[int], seconds: float, repeats: int
                   ) -> tuple[list[tuple], str | None]:
    """Rows of (batching, sessions, replies/s, actions/s, mean batch, model ms per observation); or why skipped.

    The last column is the server's own `model_ms` over the batch size of each reply: the forward pass's cost per
    observation, without the network.

    Both servers (batching off and on) run at once, each with its own copy of the model, and their runs alternate,
    so a neighbour's load on a shared machine hits both alike; each figure is the median of `repeats` runs.
    """
    try:
        import tiny_act

        from positronic_core.models.checkpoints import CheckpointRegistry
        from positronic_core.models.lerobot_act import load_act_checkpoint
        from positronic_core.serve.checkpoint_source import CheckpointSource
    except ImportError as e:
        return [], f"the tiny ACT helper or the lerobot backend does not import ({e})"

    biggest = max(sessions_list)
    observations = [guide_observation(seed) for seed in range(biggest)]
    with tempfile.TemporaryDirectory(prefix="bench_act_") as tmp:
        tiny_act.make_tiny_act_checkpoint(Path(tmp), codec="ee", lerobot_format="0.4.4")
        source = CheckpointSource(CheckpointRegistry(tmp),
                                  lambda path, progress: load_act_checkpoint(path, "ee", device, progress=progress))
        with running_server(source, ServerConfig(port=0, batching=False)) as serial, \
                running_server(source, ServerConfig(port=0, batching=True)) as batched:
            clients = {batching: InferenceClient("127.0.0.1", server.port, infer_timeout=300)
                       for batching, server in ((False, serial), (True, batched))}
            for client in clients.values():  # loads the model and warms every batch shape; not timed
                for sessions in sorted({1, biggest}):
                    _drive_sessions(client, observations[:sessions], min(seconds, 1.0))
            measured: dict[tuple[bool, int], list[tuple[float, ...]]] = {}
            for sessions in sessions_list:
                for repeat in range(repeats):
                    for batching in ((False, True) if repeat % 2 == 0 else (True, False)):
                        point = _drive_sessions(clients[batching], observations[:sessions], seconds)
                        measured.setdefault((batching, sessions), []).append(point)
    rows = []
    for batching in (False, True):
        for sessions in sessions_list:
            points = measured[(batching, sessions)]
            rows.append((batching, sessions, *(float(np.median([p[i] for p in points])) for i in range(4))))
    return rows, None


def _drive_sessions(client: InferenceClient, observations: list[dict], seconds: float
                    ) -> tuple[float, float, float, float]:
    """Replies/s, actions/s, mean batch size and model ms per observation of `len(observations)` sessions."""
    barrier = threading.Barrier(len(observations) + 1)
    counts: list[tuple[int, int, list[dict]]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def robot(obs: dict) -> None:
        replies = actions = 0
        timings: list[dict] = []
        try:
            with client.new_session() as session:
                barrier.wait()
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    actions += len(session.infer(obs))
                    replies += 1
                    timings.append(session.last_timing)
        except BaseException as e:
            failures.append(e)
            barrier.abort()
        with lock:
            counts.append((replies, actions, timings))

    threads = [threading.Thread(target=robot, args=(obs,), daemon=True) for obs in observations]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"a benchmark session failed: {failures[0]!r}")
    replies = sum(c[0] for c in counts)
    actions = sum(c[1] for c in counts)
    timings = [t for c in counts for t in c[2]]
    mean_batch = float(np.mean([t["batch_size"] for t in timings]))
    model_ms = float(np.mean([t["model_ms"] / t["batch_size"] for t in timings]))
    return replies / elapsed, actions / elapsed, mean_batch, model_ms


# ---------------------------------------------------------------------------------------------------------------


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _print_round_trips(latencies: dict[str, list[float]], skipped: dict[str, str], payload_bytes: int,
                       rounds: int, loads: tuple[float, float]) -> None:
    labels = {
        "a": "(a) our client -> our server (hold_pose, chunk 1)",
        "b": "(b) upstream 0.2.1 client -> our server",
        "c": "(c) upstream 0.2.1 client -> upstream 0.2.1 server",
        "d": "(d) bare websockets + msgpack, compression=None",
        "e": "(e) openpi-client -> openpi-style server",
        "f": "(f) openpi-client -> our openpi endpoint (hold_pose)",
        "g": "(g) upstream 0.4.1 client -> our server",
        "h": "(h) upstream 0.4.1 client -> upstream 0.4.1 server (v2)",
        "tcp": "floor: raw TCP, same bytes, small reply",
    }
    print(f"machine: {os.cpu_count()} CPUs; 1-min load average {loads[0]:.1f} before the round trips, "
          f"{loads[1]:.1f} after (a shared machine: expect noise)")
    print(f"Round trip, guide observation ({payload_bytes / 1024:.0f} KiB msgpack: 2 x 224x224x3 uint8, "
          f"3 x 7 float64, grip, task), null model, 127.0.0.1; {rounds} timed per case after {WARMUP} warm-up, "
          f"in {BLOCKS} interleaved blocks")
    print(f"{'case':54s} {'median ms':>10s} {'p99 ms':>9s}")
    medians: dict[str, float] = {}
    for key, label in labels.items():
        if key in skipped:
            print(f"{label:54s} skipped: {skipped[key]}")
            continue
        median, p99 = _stats(latencies[key])
        medians[key] = median
        print(f"{label:54s} {median:10.3f} {p99:9.3f}")
    print()
    for num, den in (("c", "a"), ("c", "b"), ("a", "d"), ("f", "e"), ("f", "a"), ("h", "g")):
        if num in medians and den in medians:
            print(f"ratio ({num})/({den}) of medians: {medians[num] / medians[den]:6.2f}")
    if "f" in medians:
        # What the openpi endpoint costs: against a bare openpi-style server (same client, same bytes), and
        # against protocol v1 to the same model.
        print(f"openpi endpoint adds {medians['f'] - medians['e']:+.3f} ms to a bare openpi server's round trip, "
              f"{medians['f'] - medians['a']:+.3f} ms to protocol v1's (a)")
    print()
    print("targets:")
    for key in ("a", "b"):
        if key in medians:
            print(f"  ({key}) median <= 1.0 ms: {'PASS' if medians[key] <= 1.0 else 'FAIL'} ({medians[key]:.3f} ms)")
            if "c" in medians:
                speedup = medians["c"] / medians[key]
                print(f"  ({key}) >= 10x faster than (c): {'PASS' if speedup >= 10 else 'FAIL'} ({speedup:.1f}x)")


def _print_throughput(rows: list[tuple], device: str, seconds: float, repeats: int) -> None:
    print(f"ACT throughput: tiny ACT checkpoint (ee codec, resnet18 backbone, chunk 30), device {device}; median of "
          f"{repeats} x {seconds:.1f} s runs per point, off/on alternating; guide observations, our client in threads")
    print(f"{'batching':10s} {'sessions':>8s} {'replies/s':>10s} {'actions/s':>10s} {'mean batch':>11s} "
          f"{'model ms/obs':>13s}")
    by_key = {}
    for batching, sessions, replies_s, actions_s, mean_batch, model_ms in rows:
        by_key[(batching, sessions)] = actions_s
        print(f"{'on' if batching else 'off':10s} {sessions:8d} {replies_s:10.1f} {actions_s:10.0f} {mean_batch:11.2f} "
              f"{model_ms:13.0f}")
    sessions = max(s for _, s, *_ in rows)
    on, off = by_key[(True, sessions)], by_key[(False, sessions)]
    print(f"batching on / off at {sessions} sessions: {on / off:.2f}x")
    print(f"target: batching at {sessions} sessions never slower than serial on {device}: "
          f"{'PASS' if on >= off else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="timed round trips per case (default 300)")
    parser.add_argument("--quick", action="store_true",
                        help="60 round trips per case, one 1.5 s throughput run per point")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per throughput run (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="throughput runs per point, median kept (default 2)")
    parser.add_argument("--device", default="auto", help="ACT device: auto (cuda when available), cpu, cuda")
    parser.add_argument("--skip-upstream", action="store_true",
                        help="leave out the upstream peers: (b), (c), (g) and (h)")
    parser.add_argument("--skip-act", action="store_true", help="leave out the ACT throughput table")
    args = parser.parse_args()
    rounds = 60 if args.quick else args.rounds
    seconds = 1.5 if args.quick else args.seconds
    repeats = 1 if args.quick else args.repeats
    device = _resolve_device(args.device)

    obs = guide_observation(0)
    payload = packb(obs)
    cases: dict[str, Callable[[], Any]] = {"a": lambda: ours_vs_ours(obs)}
    skipped: dict[str, str] = {}
    upstream_reason = "--skip-upstream" if args.skip_upstream else upstream_missing_reason()
    if upstream_reason is None:
        cases["b"] = upstream_vs_ours
        cases["c"] = upstream_vs_upstream
    else:
        skipped["b"] = skipped["c"] = upstream_reason
    upstream04_reason = "--skip-upstream" if args.skip_upstream else upstream04_missing_reason()
    if upstream04_reason is None:
        cases["g"] = upstream04_vs_ours
        cases["h"] = upstream04_vs_upstream04
    else:
        skipped["g"] = skipped["h"] = upstream04_reason
    cases["d"] = lambda: bare_websockets(obs)
    openpi_obs = openpi_observation(obs)
    cases["e"] = lambda: openpi_client(openpi_obs)
    cases["f"] = lambda: openpi_vs_ours(openpi_obs)
    cases["tcp"] = lambda: raw_tcp(payload)

    load_before = os.getloadavg()[0]
    latencies = measure_round_trips(cases, rounds)
    _print_round_trips(latencies, skipped, len(payload), rounds, (load_before, os.getloadavg()[0]))

    print()
    if args.skip_act:
        print("ACT throughput: skipped (--skip-act)")
        return
    rows, reason = act_throughput(device, [1, 4, 8], seconds, repeats)
    if reason is not None:
        print(f"ACT throughput: skipped: {reason}")
        return
    _print_throughput(rows, device, seconds, repeats)


if __name__ == "__main__":
    main()
