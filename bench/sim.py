"""Simulated seconds per wall second: ours against upstream Positronic 0.2.1, measured side by side in one run.

Both run `positronic-inference sim` as a user would (a subprocess, start-up included) on episodes of the same
simulated length, with 320x240 cameras at 15 Hz. Ours runs the scripted expert; upstream, which has no built-in
policy, runs against our `hold_pose` server over its own remote client (the cheapest policy it can use). Upstream
always renders its three cameras, so ours is measured with three cameras too, beside the two-camera figure the
targets are stated for.

Rendering dominates both, and the two sides render at different quality by default: ours at `fast` (no shadow
map, no multisampling, simplified meshes), upstream at MuJoCo's defaults. Each row states its quality, and ours
is also run at `--render_quality=default` (MuJoCo's defaults, what upstream renders), so the speed-up is printed
at equal quality as well as at each side's default.

    .venv/bin/python bench/sim.py [--seconds 15] [--quick] [--skip-upstream]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ROOT / ".venv" / "bin" / "positronic-inference"
UPSTREAM = ROOT / ".venv-upstream" / "bin" / "positronic-inference"
TWO = "image.wrist,image.exterior"
THREE = "image.wrist,image.exterior,image.agent_view"
FAST = "fast"
MUJOCO_DEFAULT = "MuJoCo default"
UPSTREAM_ROW = "upstream 0.2.1, 3 cameras, recording on"


@dataclass(frozen=True)
class Row:
    name: str
    quality: str
    wall_s: float


def timed_run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def ours(seconds: float, cameras: str, quality: str, record: bool, workdir: Path, env: dict[str, str]) -> float:
    cmd = [str(OURS), "sim", f"--driver.simulation_time={seconds}", f"--cameras={cameras}",
           f"--render_quality={quality}"]
    if record:
        run_name = f"ours-{len(cameras.split(','))}-{quality}"
        cmd.append(f"--output_dir={workdir / run_name}")
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
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows.append(Row("ours, 2 cameras, recording off", FAST, ours(seconds, TWO, "fast", False, workdir, env)))
        rows.append(Row("ours, 2 cameras, recording on", FAST, ours(seconds, TWO, "fast", True, workdir, env)))
        rows.append(Row("ours, 3 cameras, recording on", FAST, ours(seconds, THREE, "fast", True, workdir, env)))
        rows.append(Row("ours, 3 cameras, recording on", MUJOCO_DEFAULT,
                        ours(seconds, THREE, "default", True, workdir, env)))
        if not args.skip_upstream and UPSTREAM.exists():
            rows.append(Row(UPSTREAM_ROW, MUJOCO_DEFAULT, upstream(seconds, True, workdir, env)))
    print(f"episode length: {seconds:g} simulated seconds, 320x240 cameras at 15 Hz, start-up included")
    print(f"render quality: {FAST} = ours at its default --render_quality=fast (no shadow map, no multisampling, "
          f"simplified meshes); {MUJOCO_DEFAULT} = MuJoCo's defaults (shadow map, 4x multisampling), what upstream "
          "always renders and ours renders with --render_quality=default")
    print(f"{'run':42s} {'render quality':16s} {'wall s':>8s} {'sim s / wall s':>15s}")
    for row in rows:
        print(f"{row.name:42s} {row.quality:16s} {row.wall_s:8.1f} {seconds / row.wall_s:15.3f}")
    by_key = {(row.name, row.quality): row.wall_s for row in rows}
    base = by_key.get((UPSTREAM_ROW, MUJOCO_DEFAULT))
    if base is not None:
        print(f"speed-up over upstream ({MUJOCO_DEFAULT}, 3 cameras, recording on):")
        for label, key in (
            (f"ours at equal quality ({MUJOCO_DEFAULT}), 3 cameras", ("ours, 3 cameras, recording on", MUJOCO_DEFAULT)),
            (f"ours at its default ({FAST}), 3 cameras", ("ours, 3 cameras, recording on", FAST)),
            (f"ours at its default ({FAST}), 2 cameras", ("ours, 2 cameras, recording on", FAST)),
        ):
            print(f"  {label:52s} {base / by_key[key]:5.1f}x")
    print("targets: >= 0.8 sim s / wall s with recording on (2 cameras); >= 10x upstream")

if __name__ == "__main__":
    main()
