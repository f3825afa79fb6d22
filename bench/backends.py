"""What a vendor backend's translation adds to a round trip, with the vendor's own client as the baseline, in one run.

For each vendor backend, against the same stand-in vendor server (test/support: the vendor's real wire, a policy
that costs next to nothing, so only transport and translation are measured), over 127.0.0.1:

  direct   the vendor's own client -> the stand-in vendor      (openpi: openpi-client's WebsocketClientPolicy with
                                                                 observation/state, two 224x224x3 uint8 images,
                                                                 prompt; a (10, 8) action chunk back)
  via us   our client -> positronic-policy-server --backend=<vendor> (its own process, as deployed) -> the stand-in
                                                                (the Inference Guide's observation: the same two
                                                                 images, q / dq / ee_pose, grip, task; 10 actions)

Added = median(via us) - median(direct): our client, protocol v1 framing, the codec both ways and the extra hop.
Target: at most 2 ms. For scale, "our hop alone" is our client -> our server with a null model (hold_pose, the same
observation, a chunk of 10): the part of "added" that is the extra loopback hop itself, not translation. Cases are
measured in interleaved blocks so that load from other work on a shared machine falls on all of them alike. Another
backend joins by adding its pair of cases to `BACKENDS`.

    .venv/bin/python bench/backends.py [--rounds N] [--blocks N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.serve import vendor_process
from positronic_core.wire.client import InferenceClient

ROOT = Path(__file__).resolve().parents[1]
OPENPI_STAND_IN = ROOT / "test" / "support" / "openpi_stand_in.py"

WARMUP = 20
TARGET_ADDED_MS = 2.0
HORIZON = 10

@contextmanager
def _policy_server(*flags: str) -> Iterator[int]:
    """`positronic-policy-server` as its own process, as deployed (a server sharing the benchmark's process would
    also share its interpreter lock with our client); yields its port."""
    server = subprocess.Popen([sys.executable, "-m", "positronic_core.cli.policy_server", "--port=0", *flags],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if "/api/v1/models" not in line:
            raise RuntimeError(f"positronic-policy-server {' '.join(flags)} did not start")
        yield int(line.rsplit(":", 1)[1].split("/")[0])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


#: A case's timer: `measure(n)` returns n round-trip times in seconds.
Measure = Callable[[int], list[float]]


def _timer(call: Callable[[], Any]) -> Measure:
    """Warms `call` up, then returns a timer for it."""
    for _ in range(WARMUP):
        call()

    def measure(rounds: int) -> list[float]:
        latencies = []
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)
        return latencies

    return measure


def guide_observation() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "robot_state.q": rng.normal(size=7),
        "robot_state.dq": rng.normal(size=7),
        "robot_state.ee_pose": np.array([0.4, 0.1, 0.3, 1.0, 0.0, 0.0, 0.0]),
        "grip": np.float64(0.2),
        "image.wrist": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "image.exterior": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "task": "Pick up the green cube and put it on the red cube",
    }


# ---------------------------------------------------------------------------------------------------------------
# openpi


def _openpi_command() -> str:
    return (shlex.join([sys.executable, str(OPENPI_STAND_IN), f"--horizon={HORIZON}"])
            + " --port {port} --policy.dir {checkpoint_dir}")


@contextmanager
def _checkpoints() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        (Path(tmp) / "1000").mkdir()
        yield Path(tmp)


@contextmanager
def openpi_direct(obs: dict[str, Any]) -> Iterator[Measure]:
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    from positronic_core.serve.backends.openpi import probe

    openpi_obs = {
        "observation/state": np.concatenate([obs["robot_state.ee_pose"], [obs["grip"]]]).astype(np.float32),
        "observation/image": obs["image.exterior"],
        "observation/wrist_image": obs["image.wrist"],
        "prompt": obs["task"],
    }
    with _checkpoints() as checkpoints, vendor_process.VendorProcess.start(
            _openpi_command(), checkpoint_dir=checkpoints / "1000", probe=probe, progress=lambda m: None,
            timeout_s=120.0, name="openpi stand-in") as vendor:
        policy = WebsocketClientPolicy("127.0.0.1", vendor.port)
        try:
            yield _timer(lambda: policy.infer(openpi_obs))
        finally:
            policy._ws.close()  # the client has no close(); its socket is its only resource


@contextmanager
def openpi_via_us(obs: dict[str, Any]) -> Iterator[Measure]:
    with _checkpoints() as checkpoints, _policy_server(
            "--backend=openpi", f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={checkpoints}",
            f"--vendor_command={_openpi_command()}") as port, \
            InferenceClient("127.0.0.1", port).new_session() as session:
        assert len(session.infer(obs)) == HORIZON
        yield _timer(lambda: session.infer(obs))


@contextmanager
def our_hop_alone(obs: dict[str, Any]) -> Iterator[Measure]:
    with _policy_server("--backend=hold_pose") as port, InferenceClient("127.0.0.1", port).new_session() as session:
        yield _timer(lambda: session.infer(obs))


#: Backend -> (its vendor's own client straight to the stand-in, our client through our server).
BACKENDS: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any]]] = {
    "openpi": (openpi_direct, openpi_via_us),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="round trips per case per block (default 200)")
    parser.add_argument("--blocks", type=int, default=5, help="interleaved blocks (default 5)")
    args = parser.parse_args()

    obs = guide_observation()
    latencies: dict[tuple[str, str], list[float]] = {}
    with ExitStack() as stack:
        timers = {("our hop alone", ""): stack.enter_context(our_hop_alone(obs))}
        for backend, (direct, via_us) in BACKENDS.items():
            timers[(backend, "direct")] = stack.enter_context(direct(obs))
            timers[(backend, "via us")] = stack.enter_context(via_us(obs))
        loads = os.getloadavg()
        keys = list(timers)
        for block in range(args.blocks):
            order = keys[block % len(keys):] + keys[:block % len(keys)]
            for key in order:
                latencies.setdefault(key, []).extend(timers[key](args.rounds))

    print(f"machine: {os.cpu_count()} CPUs; 1-min load average {loads[0]:.1f} at the start")
    print(f"Round trip through a stand-in vendor server: 2 x 224x224x3 uint8 images, a chunk of {HORIZON} actions; "
          f"{args.blocks} interleaved blocks of {args.rounds}")
    print(f"{'backend':10s} {'direct median ms':>17s} {'via us median ms':>17s} {'added ms':>9s} {'ratio':>6s} "
          f"{'via us p99 ms':>14s}  target: added <= {TARGET_ADDED_MS:g} ms")
    hop = float(np.median(latencies[("our hop alone", "")])) * 1000.0
    for backend in BACKENDS:
        direct = np.asarray(latencies[(backend, "direct")]) * 1000.0
        via_us = np.asarray(latencies[(backend, "via us")]) * 1000.0
        added = float(np.median(via_us) - np.median(direct))
        verdict = "PASS" if added <= TARGET_ADDED_MS else "FAIL"
        print(f"{backend:10s} {np.median(direct):17.3f} {np.median(via_us):17.3f} {added:9.3f} "
              f"{np.median(via_us) / np.median(direct):6.2f} {np.percentile(via_us, 99):14.3f}  {verdict}")
        print(f"{'':10s} of which our hop alone (client -> server, null model): {hop:.3f} ms; translation and the "
              f"vendor client: {added - hop:.3f} ms")


if __name__ == "__main__":
    main()
