"""What docker/'s nginx balancer adds: protocol v1 through nginx (the shipped docker/nginx/nginx.conf.template) against
the same replica reached directly, both measured in the same run.

Two real `positronic-policy-server --backend=hold_pose` replicas on 127.0.0.1, Debian's nginx in front of them:
  round trip:    the Inference Guide's observation (two 224x224x3 uint8 cameras, ...; ~295 KiB msgpack), null model;
  session open:  connect, handshake to `ready`, close (what every episode pays once).
Cases are measured in interleaved blocks (direct, balanced, direct, ...), so load from other work on a shared
machine falls on both alike.

    .venv/bin/python bench/balancer.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test" / "support"))

from nginx_balancer import balancer, nginx_binary, replicas  # noqa: E402
from upstream import guide_observation  # noqa: E402

from positronic_core.wire.client import InferenceClient  # noqa: E402
from positronic_core.wire.envelope import packb  # noqa: E402

WARMUP = 20
BLOCKS = 5


def _times(call: Callable[[], object], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def _interleaved(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    for call in cases.values():
        for _ in range(WARMUP):
            call()
    times: dict[str, list[float]] = {name: [] for name in cases}
    per_block = max(1, rounds // BLOCKS)
    for block in range(BLOCKS):
        order = list(cases) if block % 2 == 0 else list(reversed(cases))
        for name in order:
            times[name] += _times(cases[name], per_block)
    return times


def _row(label: str, seconds: list[float]) -> float:
    ms = np.asarray(seconds) * 1000.0
    median = float(np.median(ms))
    print(f"  {label:28s} {median:10.3f} {float(np.percentile(ms, 99)):9.3f}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=500, help="timed round trips per case (default 500)")
    args = parser.parse_args()
    rounds = 50 if args.quick else args.rounds
    if nginx_binary() is None:
        print("skipped: no nginx binary (`make test` installs Debian's nginx)")
        return
    obs = guide_observation()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_balancer_")))
        a, b = stack.enter_context(replicas(2, ["--backend=hold_pose", "--preload=True"], tmp))
        port, _ = stack.enter_context(balancer([a.address, b.address], tmp / "nginx"))
        direct = InferenceClient("127.0.0.1", a.port)
        balanced = InferenceClient("127.0.0.1", port)
        sessions = {"direct": stack.enter_context(direct.new_session()),
                    "balanced": stack.enter_context(balanced.new_session())}
        loads = [os.getloadavg()[0]]
        round_trips = _interleaved({name: lambda s=s: s.infer(obs) for name, s in sessions.items()}, rounds)

        def open_close(client: InferenceClient) -> None:
            client.new_session().close()

        opens = _interleaved({"direct": lambda: open_close(direct), "balanced": lambda: open_close(balanced)},
                             max(BLOCKS, rounds // 5))
        loads.append(os.getloadavg()[0])

    print(f"machine: {os.cpu_count()} CPUs; 1-min load average {loads[0]:.1f} before, {loads[1]:.1f} after "
          "(a shared machine: expect noise)")
    print(f"nginx {nginx_binary()}; two hold_pose replicas; {len(packb(obs)) / 1024:.0f} KiB observation; "
          f"{WARMUP} warm-up per case, {BLOCKS} interleaved blocks")
    print(f"  {'case':28s} {'median ms':>10s} {'p99 ms':>9s}")
    print(f"round trip ({len(round_trips['direct'])} per case)")
    rt_direct = _row("direct to a replica", round_trips["direct"])
    rt_balanced = _row("through nginx", round_trips["balanced"])
    print(f"session open + close ({len(opens['direct'])} per case)")
    open_direct = _row("direct to a replica", opens["direct"])
    open_balanced = _row("through nginx", opens["balanced"])
    print(f"ratio round trip nginx/direct of medians: {rt_balanced / rt_direct:6.2f} "
          f"({rt_balanced - rt_direct:+.3f} ms)")
    print(f"ratio session open nginx/direct of medians: {open_balanced / open_direct:6.2f} "
          f"({open_balanced - open_direct:+.3f} ms)")


if __name__ == "__main__":
    main()
