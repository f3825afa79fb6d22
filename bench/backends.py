"""What a vendor backend's translation adds to a round trip, with the vendor's own client as the baseline, in one run.

For each vendor backend, against the same stand-in vendor server (test/support: the vendor's real wire, a policy
that costs next to nothing, so only transport and translation are measured), over 127.0.0.1:

  direct   the vendor's own client -> the stand-in vendor      (openpi: openpi-client's WebsocketClientPolicy with
                                                                 observation/state, two 224x224x3 uint8 images,
                                                                 prompt; a (10, 8) action chunk back. GR00T:
                                                                 its client is not installable here, so a ZeroMQ
                                                                 REQ socket with the stand-in's own framing of
                                                                 GR00T's wire, sending the nested video / state /
                                                                 language input a GR00T user builds; `ee_pose` (1,
                                                                 10, 9) and `grip` back)
  via us   our client -> positronic-policy-server --backend=<vendor> (its own process, as deployed) -> the stand-in
                                                                (the Inference Guide's observation: the same two
                                                                 images, q / dq / ee_pose, grip, task; 10 actions)
  openpi endpoint   openpi-client's WebsocketClientPolicy -> our server's openpi endpoint (--openpi_port) ->
                    --backend=<vendor> -> the stand-in vendor  (openpi's `ee` layout: the observation of openpi's
                                                                 direct case; a (10, 8) chunk back)

Added = median(via us) - median(direct): our client, protocol v1 framing, the codec both ways and the extra hop.
Target: at most 2 ms. For scale, "our hop alone" is our client -> our server with a null model (hold_pose, the same
observation, one action back): the part of "added" that is the extra loopback hop itself, not translation. Cases are
measured in interleaved blocks so that load from other work on a shared machine falls on all of them alike. Another
backend joins by adding its cases to `BACKENDS`. The openpi endpoint's cost is its median against "via us"
(protocol v1 to the same backend) and, for openpi, against "direct" (the same client and bytes, no server of ours).

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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from common.round_trips import Measure, timer

ROOT = Path(__file__).resolve().parents[1]
OPENPI_STAND_IN = ROOT / "test" / "support" / "openpi_stand_in.py"
GROOT_STAND_IN = ROOT / "test" / "support" / "groot_vendor_stub.py"

from positronic_core import allocator  # noqa: E402
from positronic_core.serve import vendor_process  # noqa: E402
from positronic_core.serve.openpi_layout import IMAGE_KEYS, PROMPT_KEY, STATE_KEY  # noqa: E402
from positronic_core.wire.client import InferenceClient  # noqa: E402

TARGET_ADDED_MS = 2.0
HORIZON = 10

@contextmanager
def _policy_server(*flags: str) -> Iterator[tuple[int, int]]:
    """`positronic-policy-server` as its own process, as deployed (a server inside the benchmark's process would
    share its interpreter lock with the client being timed); yields its protocol v1 and openpi endpoint ports."""
    server = subprocess.Popen([sys.executable, "-m", "positronic_core.cli.policy_server", "--port=0",
                               "--openpi_port=0", *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        if "/api/v1/models" not in lines[0] or "ws://" not in lines[1]:
            raise RuntimeError(f"positronic-policy-server {' '.join(flags)} did not start: {lines}")
        yield int(lines[0].rsplit(":", 1)[1].split("/")[0]), int(lines[1].rsplit(":", 1)[1])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


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
def _checkpoints(name: str = "1000") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        (Path(tmp) / name).mkdir()
        yield Path(tmp)


def _openpi_observation(obs: dict[str, Any]) -> dict[str, Any]:
    """The guide observation in openpi's `ee` layout, as an openpi user's robot sends it."""
    openpi_obs = {STATE_KEY: np.concatenate([obs["robot_state.ee_pose"], [obs["grip"]]]).astype(np.float32),
                  PROMPT_KEY: obs["task"]}
    openpi_obs.update({openpi_key: obs[key] for openpi_key, key in IMAGE_KEYS.items()})
    return openpi_obs


@contextmanager
def _via_v1(flags: list[str], obs: dict[str, Any]) -> Iterator[Measure]:
    """Our client -> our server (protocol v1) -> the backend `flags` select."""
    with _policy_server(*flags) as (port, _), InferenceClient("127.0.0.1", port).new_session() as session:
        assert len(session.infer(obs)) == HORIZON
        yield timer(lambda: session.infer(obs))


@contextmanager
def _via_openpi_endpoint(flags: list[str], obs: dict[str, Any]) -> Iterator[Measure]:
    """openpi's own client -> our openpi endpoint -> the backend `flags` select."""
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    openpi_obs = _openpi_observation(obs)
    with _policy_server(*flags) as (_, openpi_port):
        policy = WebsocketClientPolicy("127.0.0.1", openpi_port)
        try:
            assert policy.infer(openpi_obs)["actions"].shape == (HORIZON, 8)
            yield timer(lambda: policy.infer(openpi_obs))
        finally:
            policy._ws.close()  # the client has no close(); its socket is its only resource


@contextmanager
def openpi_direct(obs: dict[str, Any]) -> Iterator[Measure]:
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    from positronic_core.serve.backends.openpi import probe

    openpi_obs = _openpi_observation(obs)
    with _checkpoints() as checkpoints, vendor_process.VendorProcess.start(
            _openpi_command(), checkpoint_dir=checkpoints / "1000", probe=probe, progress=lambda m: None,
            timeout_s=120.0, name="openpi stand-in") as vendor:
        policy = WebsocketClientPolicy("127.0.0.1", vendor.port)
        try:
            yield timer(lambda: policy.infer(openpi_obs))
        finally:
            policy._ws.close()  # the client has no close(); its socket is its only resource


def _openpi_flags(checkpoints: Path) -> list[str]:
    return ["--backend=openpi", "--codec=ee", f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={checkpoints}",
            f"--vendor_command={_openpi_command()}"]


@contextmanager
def openpi_via_us(obs: dict[str, Any]) -> Iterator[Measure]:
    with _checkpoints() as checkpoints, _via_v1(_openpi_flags(checkpoints), obs) as measure:
        yield measure


@contextmanager
def openpi_via_endpoint(obs: dict[str, Any]) -> Iterator[Measure]:
    with _checkpoints() as checkpoints, _via_openpi_endpoint(_openpi_flags(checkpoints), obs) as measure:
        yield measure


# ---------------------------------------------------------------------------------------------------------------
# GR00T


def _groot_command() -> str:
    return (shlex.join([sys.executable, str(GROOT_STAND_IN), f"--horizon={HORIZON}"])
            + " --model_path {checkpoint_dir} --modality_config_path gr00t/configs/data/positronic_ee_rot6d.py"
            + " --host 127.0.0.1 --port {port}")


@contextmanager
def groot_direct(obs: dict[str, Any]) -> Iterator[Measure]:
    """GR00T's own client is not installable here: a REQ socket with the stand-in's framing (GR00T's documented
    one, written independently of ours) sending the nested input a GR00T user builds by hand."""
    import zmq

    sys.path.insert(0, str(GROOT_STAND_IN.parent))
    import groot_vendor_stub

    from positronic_core.geometry import pose7_to_pose9
    from positronic_core.serve.backends.groot import probe

    groot_obs = {
        "video": {"wrist_image": obs["image.wrist"][None, None], "exterior_image_1": obs["image.exterior"][None, None]},
        "state": {"ee_pose": pose7_to_pose9(obs["robot_state.ee_pose"]).astype(np.float32)[None, None],
                  "grip": np.float32([[[obs["grip"]]]])},
        "language": {groot_vendor_stub.LANGUAGE_KEY: [[obs["task"]]]},
    }
    request = {"endpoint": "get_action", "data": {"observation": groot_obs, "options": None}}

    with _checkpoints("checkpoint-1000") as checkpoints, vendor_process.VendorProcess.start(
            _groot_command(), checkpoint_dir=checkpoints / "checkpoint-1000", probe=probe,
            progress=lambda m: None, timeout_s=120.0, name="GR00T stand-in") as vendor:
        socket = zmq.Context.instance().socket(zmq.REQ)
        socket.connect(f"tcp://127.0.0.1:{vendor.port}")

        def call() -> None:
            socket.send(groot_vendor_stub.to_bytes(request))
            action, _info = groot_vendor_stub.from_bytes(socket.recv())
            assert action["ee_pose"].shape == (1, HORIZON, 9)

        try:
            yield timer(call)
        finally:
            socket.close(linger=0)


def _groot_flags(checkpoints: Path) -> list[str]:
    return ["--backend=groot", "ee_rot6d", f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={checkpoints}",
            f"--vendor_command={_groot_command()}"]


@contextmanager
def groot_via_us(obs: dict[str, Any]) -> Iterator[Measure]:
    with _checkpoints("checkpoint-1000") as checkpoints, _via_v1(_groot_flags(checkpoints), obs) as measure:
        yield measure


@contextmanager
def groot_via_endpoint(obs: dict[str, Any]) -> Iterator[Measure]:
    with _checkpoints("checkpoint-1000") as checkpoints, \
            _via_openpi_endpoint(_groot_flags(checkpoints), obs) as measure:
        yield measure


@contextmanager
def our_hop_alone(obs: dict[str, Any]) -> Iterator[Measure]:
    """The model-free backend answers one action (the CLI's hold_pose has no chunk flag)."""
    with _policy_server("--backend=hold_pose") as (port, _), \
            InferenceClient("127.0.0.1", port).new_session() as session:
        yield timer(lambda: session.infer(obs))


Case = Callable[[dict[str, Any]], Any]
#: Backend -> (its vendor's own client straight to the stand-in, our client through our server, openpi's client
#: through our openpi endpoint).
BACKENDS: dict[str, tuple[Case, Case, Case]] = {
    "openpi": (openpi_direct, openpi_via_us, openpi_via_endpoint),
    "groot": (groot_direct, groot_via_us, groot_via_endpoint),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="round trips per case per block (default 200)")
    parser.add_argument("--blocks", type=int, default=5, help="interleaved blocks (default 5)")
    args = parser.parse_args()
    # This process runs every client, ours and the vendors'. Left to glibc's defaults, whichever client happens to
    # get freshly mapped pages for its 300 KiB frames pays up to 0.8 ms more per round trip, and which one that is
    # changes from run to run; our server keeps its buffers (`allocator`), and so do the clients here, alike.
    allocator.keep_large_buffers()

    obs = guide_observation()
    latencies: dict[tuple[str, str], list[float]] = {}
    with ExitStack() as stack:
        timers = {("our hop alone", ""): stack.enter_context(our_hop_alone(obs))}
        for backend, (direct, via_us, via_endpoint) in BACKENDS.items():
            timers[(backend, "direct")] = stack.enter_context(direct(obs))
            timers[(backend, "via us")] = stack.enter_context(via_us(obs))
            timers[(backend, "openpi endpoint")] = stack.enter_context(via_endpoint(obs))
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
          f"{'direct p90 ms':>14s} {'via us p90 ms':>14s}  target: added <= {TARGET_ADDED_MS:g} ms")
    hop = float(np.median(latencies[("our hop alone", "")])) * 1000.0
    for backend in BACKENDS:
        direct = np.asarray(latencies[(backend, "direct")]) * 1000.0
        via_us = np.asarray(latencies[(backend, "via us")]) * 1000.0
        added = float(np.median(via_us) - np.median(direct))
        verdict = "PASS" if added <= TARGET_ADDED_MS else "FAIL"
        print(f"{backend:10s} {np.median(direct):17.3f} {np.median(via_us):17.3f} {added:9.3f} "
              f"{np.median(via_us) / np.median(direct):6.2f} {np.percentile(direct, 90):14.3f} "
              f"{np.percentile(via_us, 90):14.3f}  {verdict}")
        print(f"{'':10s} of which our hop alone (client -> server, null model): {hop:.3f} ms; translation and the "
              f"vendor client: {added - hop:.3f} ms")
        endpoint = float(np.median(latencies[(backend, "openpi endpoint")])) * 1000.0
        print(f"{'':10s} openpi-client via our openpi endpoint: {endpoint:.3f} ms median, "
              f"{endpoint - np.median(via_us):+.3f} ms against protocol v1 (via us), "
              f"{endpoint - np.median(direct):+.3f} ms against {backend} direct")


if __name__ == "__main__":
    main()
