"""Sweep throughput: episodes per minute on the local process pool against Ray (a local cluster on this machine,
`--ray=local`), measured side by side in one run on the same episodes, and a projection to 1..64 workers.

Both run the product's sweep (`evaluate.sweep.runner.run_sweep`, the code behind `positronic-eval sweep`) with the
same number of workers against one `positronic-policy-server --backend=hold_pose` process, on the same seeds. From
each run: `start-up` (pool or cluster start, first simulator build: the time to the first finished episode less that
episode's own cost) and `episode` (median wall seconds a task spends in its worker: simulate, render, record,
publish). `overhead` is each engine's own cost per task, measured apart: worker-seconds per empty task (submit, run
nothing, return a result) with as many in flight as there are workers, the way the sweep submits, on the same
engine (a spawn-context process pool; a fresh `--ray=local` cluster). It is too small to read off the episodes'
timing, where a few milliseconds drown in a second of simulation. The projection assumes one core per worker and a
server that keeps up: episodes per minute = 60 k / (episode + overhead), and the minutes a 10-model x 50-seed sweep
(500 episodes) takes = start-up + 500 (episode + overhead) / k. The local pool cannot go past one machine's cores;
Ray's rows past them mean a cluster.

    .venv/bin/python bench/sweep.py [--episodes 12] [--seconds 2] [--workers 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src" / "positronic_core"))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from positronic_core.evaluate.sweep.plan import EpisodeSettings, ModelSource, SweepSpec  # noqa: E402
from positronic_core.evaluate.sweep.pools import LocalPool, RayPool  # noqa: E402
from positronic_core.evaluate.sweep.progress import SweepProgress  # noqa: E402
from positronic_core.evaluate.sweep.ray_local import LOOPBACK_ENV, LocalCluster  # noqa: E402
from positronic_core.evaluate.sweep.runner import run_sweep  # noqa: E402

PROJECTED_WORKERS = (1, 2, 4, 8, 16, 32, 64)
LARGE_SWEEP = 500  # 10 models x 50 seeds


@dataclass(frozen=True)
class Measured:
    name: str
    episodes: int
    wall_s: float
    startup_s: float
    episode_s: float
    overhead_s: float

    @property
    def per_minute(self) -> float:
        return 60.0 * self.episodes / self.wall_s

    def projected_per_minute(self, workers: int) -> float:
        return 60.0 * workers / (self.episode_s + self.overhead_s)

    def projected_minutes(self, workers: int, episodes: int = LARGE_SWEEP) -> float:
        return (self.startup_s + episodes * (self.episode_s + self.overhead_s) / workers) / 60.0


class _Stamps(SweepProgress):
    """The sweep's own progress, silenced, noting when each episode finished."""

    stamps: list[float] = []

    def __init__(self, out, total, already_done, **kwargs) -> None:
        super().__init__(io.StringIO(), total, already_done, interactive=False)
        _Stamps.stamps = []

    def finished(self, running: int, failed: bool = False) -> None:
        _Stamps.stamps.append(time.perf_counter())
        super().finished(running, failed)


def measure(name: str, spec: SweepSpec, episodes: int, overhead_s: float, make_pool) -> Measured:
    started = time.perf_counter()
    outcome = run_sweep(spec, ["1"], range(episodes), make_pool, io.StringIO(), progress_factory=_Stamps)
    wall = time.perf_counter() - started
    if outcome.failures or outcome.recorded != episodes:
        raise RuntimeError(f"{name}: {outcome.failures or 'episodes missing'}")
    # The median: each worker's first task also builds its simulator.
    episode = statistics.median(r.wall_s for r in outcome.results.values())
    first = _Stamps.stamps[0] - started
    return Measured(name, episodes, wall, startup_s=max(0.0, first - episode), episode_s=episode,
                    overhead_s=overhead_s)


def _empty_task(index: int) -> int:
    return index


def _per_task_s(submit, wait_one, workers: int, tasks: int) -> float:
    """Worker-seconds per task of `tasks` empty tasks, `workers` in flight at a time (after one warm-up round)."""
    for round_tasks in (workers, tasks):
        started = time.perf_counter()
        running = [submit(i) for i in range(workers)]
        for i in range(workers, round_tasks):
            running = wait_one(running)
            running.append(submit(i))
        while running:
            running = wait_one(running)
    return (time.perf_counter() - started) * workers / tasks


def pool_overhead_s(workers: int, tasks: int) -> float:
    with futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as executor:
        def wait_one(running: list) -> list:
            done, rest = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for future in done:
                future.result()
            return list(rest)

        return _per_task_s(lambda i: executor.submit(_empty_task, i), wait_one, workers, tasks)


def ray_overhead_s(workers: int, tasks: int) -> float:
    os.environ.update(LOOPBACK_ENV)
    cluster = LocalCluster(workers, dict(os.environ))
    try:
        # Before Ray is imported: it reads the authentication mode once, then.
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("RAY_AUTH")})
        import ray

        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False,
                 _node_ip_address="127.0.0.1")
        remote = ray.remote(num_cpus=1)(_empty_task)

        def wait_one(running: list) -> list:
            done, rest = ray.wait(running, num_returns=1)
            ray.get(done)
            return rest

        return _per_task_s(remote.remote, wait_one, workers, tasks)
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
        cluster.stop()


def policy_server() -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen([sys.executable, "-m", "positronic_core.cli.policy_server", "--backend=hold_pose",
                               "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src" / "positronic_core")})
    line = server.stdout.readline()
    if "/api/v1/models" not in line:
        server.kill()
        raise RuntimeError(f"positronic-policy-server did not start: {line!r}")
    return server, int(line.rsplit(":", 1)[1].split("/")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=12, help="episodes per run (default 12)")
    parser.add_argument("--seconds", type=float, default=2.0, help="simulated seconds per episode (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="workers of both engines (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated runs per engine, best kept (default 2)")
    parser.add_argument("--empty_tasks", type=int, default=400,
                        help="empty tasks per engine for its per-task overhead (default 400)")
    args = parser.parse_args()
    overheads = {"pool": pool_overhead_s(args.workers, args.empty_tasks),
                 "ray": ray_overhead_s(args.workers, args.empty_tasks)}
    settings = EpisodeSettings(simulation_time=args.seconds, camera_width=128, camera_height=96,
                               cameras=("image.wrist", "image.exterior"))
    server, port = policy_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = ModelSource(server=("127.0.0.1", port))
            pool_spec = SweepSpec(Path(tmp) / "pool", source, settings)
            ray_spec = SweepSpec(Path(tmp) / "ray", source, settings)
            # Alternated, and each engine's best of `rounds` kept: the machine is shared, and a burst of other
            # load during one engine's run would otherwise be read as that engine's cost.
            pools, rays = [], []
            for round_ in range(args.rounds):
                spec_p = SweepSpec(pool_spec.output_dir / str(round_), source, settings)
                spec_r = SweepSpec(ray_spec.output_dir / str(round_), source, settings)
                pools.append(measure("local pool", spec_p, args.episodes, overheads["pool"],
                                     lambda spec=spec_p: LocalPool(spec, args.workers)))
                rays.append(measure("Ray (--ray=local)", spec_r, args.episodes, overheads["ray"],
                                    lambda spec=spec_r: RayPool(spec, "local", args.workers)))
            pool = min(pools, key=lambda m: m.wall_s)
            ray = min(rays, key=lambda m: m.wall_s)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    print(f"best of {args.rounds} alternated runs; {args.episodes} episodes per run, {args.workers} workers, "
          f"{args.seconds:g} simulated s each "
          f"(2 cameras at 128x96, recorded), hold_pose server; this machine: {os.cpu_count()} CPUs")
    print(f"{'engine':20s} {'wall s':>7s} {'episodes/min':>13s} {'start-up s':>11s} {'episode s':>10s} "
          f"{'overhead ms/task':>17s}")
    for m in (pool, ray):
        print(f"{m.name:20s} {m.wall_s:7.1f} {m.per_minute:13.1f} {m.startup_s:11.1f} {m.episode_s:10.2f} "
              f"{m.overhead_s * 1000:17.2f}")
    print(f"per-task overhead, Ray / local pool: {ray.overhead_s / pool.overhead_s:.1f}x "
          f"({args.empty_tasks} empty tasks each)")
    steady = ray.projected_per_minute(1) / pool.projected_per_minute(1)
    print(f"Ray / local pool, episodes per minute: {ray.per_minute / pool.per_minute:.2f}x with start-up, "
          f"{steady:.2f}x in steady state")
    print("\nprojection (one core per worker, the server keeping up):")
    print("| workers | local pool episodes/min | Ray episodes/min | 500 episodes, local pool (min) | "
          "500 episodes, Ray (min) |")
    print("|---:|---:|---:|---:|---:|")
    for k in PROJECTED_WORKERS:
        print(f"| {k} | {pool.projected_per_minute(k):.0f} | {ray.projected_per_minute(k):.0f} | "
              f"{pool.projected_minutes(k):.1f} | {ray.projected_minutes(k):.1f} |")


if __name__ == "__main__":
    main()
