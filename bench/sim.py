"""Simulated seconds per wall second: ours against upstream Positronic 0.2.1, measured side by side in one run.

Both run `positronic-inference sim` as a user would (a subprocess, start-up included) on episodes of the same
simulated length, with 320x240 cameras at 15 Hz. Ours runs the scripted expert; upstream, which has no built-in
policy, runs against our `hold_pose` server over its own remote client (the cheapest policy it can use). Upstream
always renders its three cameras, so ours is measured with three cameras too, beside the two-camera figure the
targets are stated for.

    .venv/bin/python bench/sim.py [--seconds 15] [--quick] [--skip-upstream]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / ".venv" / "bin" / "positronic-inference"
UPSTREAM = ROOT / ".venv-upstream" / "bin" / "positronic-inference"
TWO = "image.wrist,image.exterior"
THREE = "image.wrist,image.exterior,image.agent_view"


def timed_run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def ours(seconds: float, cameras: str, record: bool, workdir: Path, env: dict[str, str]) -> float:
    cmd = [str(OURS), "sim", f"--driver.simulation_time={seconds}", f"--cameras={cameras}"]
    if record:
        cmd.append(f"--output_dir={workdir / ('ours-' + str(cameras.count(',') + 1))}")
    return timed_run(cmd, env)


def upstream(seconds: float, record: bool, workdir: Path, env: dict[str, str]) -> float:
    sys.path.insert(0, str(ROOT / "src" / "positronic_core"))
    from positronic_core.serve.backends.hold_pose import HoldPoseSource
    from positronic_core.serve.server import running_server

    with running_server(HoldPoseSource(chunk_size=15)) as server:
        cmd = [str(UPSTREAM), "sim", "--policy=.remote", "--policy.host=127.0.0.1", f"--policy.port={server.port}",
               f"--driver.simulation_time={seconds}"]
        if record:
            cmd.append(f"--output_dir={workdir / 'upstream'}")
        return timed_run(cmd, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="simulated seconds per episode (default 15)")
    parser.add_argument("--quick", action="store_true", help="3-second episodes")
    parser.add_argument("--skip-upstream", action="store_true", help="measure ours only")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "HF_HUB_OFFLINE": "1"}
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows.append(("ours, 2 cameras, recording off", ours(seconds, TWO, False, workdir, env)))
        rows.append(("ours, 2 cameras, recording on", ours(seconds, TWO, True, workdir, env)))
        rows.append(("ours, 3 cameras, recording on", ours(seconds, THREE, True, workdir, env)))
        if not args.skip_upstream and UPSTREAM.exists():
            rows.append(("upstream 0.2.1, 3 cameras, recording on", upstream(seconds, True, workdir, env)))
    print(f"episode length: {seconds:.0f} simulated seconds, 320x240 cameras at 15 Hz, start-up included")
    print(f"{'run':44s} {'wall s':>8s} {'sim s / wall s':>15s}")
    for name, wall in rows:
        print(f"{name:44s} {wall:8.1f} {seconds / wall:15.3f}")
    by_name = dict(rows)
    if "upstream 0.2.1, 3 cameras, recording on" in by_name:
        base = by_name["upstream 0.2.1, 3 cameras, recording on"]
        three = base / by_name["ours, 3 cameras, recording on"]
        two = base / by_name["ours, 2 cameras, recording on"]
        print(f"speed-up over upstream (3 cameras, recording on): {three:.1f}x")
        print(f"speed-up over upstream (ours with 2 cameras):      {two:.1f}x")
    print("targets: >= 0.8 sim s / wall s with recording on (2 cameras); >= 10x upstream")


if __name__ == "__main__":
    main()
