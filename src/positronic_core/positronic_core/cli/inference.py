"""`positronic-inference sim|real`: run a policy for episodes and record them as a Positronic dataset."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import configuronic as cfn

from positronic_core.cfg import driver as driver_cfg
from positronic_core.cfg import policy as policy_cfg
from positronic_core.cli import flag_checks
from positronic_core.cli.runner import run

CAMERAS = ("image.wrist", "image.exterior", "image.agent_view")


def sim(policy=None, driver=None, output_dir: str | None = None, policy_fps: float = 15.0,
        simulate_timeout: bool = False, seed: int = 0, camera_width: int = 320, camera_height: int = 240,
        cameras: tuple[str, ...] = CAMERAS, render_quality: str = "fast") -> None:
    """Run a policy on the MuJoCo Franka cube-stacking simulator.

    Flags (configuronic style; `--policy.<field>=...` applies to the `--policy=...` chosen, in either order):
      --policy=.scripted      Built-in expert using privileged sim state (default).
      --policy=.remote        A protocol v1 server: --policy.host=HOST --policy.port=8000 --policy.model_id=ID
                              (default: the server's latest) --policy.resize=640 (client-side downscale of images
                              whose longest side exceeds it; None disables) --policy.token=TOKEN.
      --policy=@positronic_core.cfg.policy.act_absolute
                              Local LeRobot ACT: --policy.base.checkpoints_dir=DIR --policy.base.checkpoint=STEP
                              (default latest) --policy.base.device=cpu --policy.codec=ee|joints.
      --driver=.timed         Default: --driver.simulation_time=15 (s per episode) --driver.num_iterations=1
                              --driver.task="..." --driver.show_gui=False.
      --driver=.keyboard      s start, p stop and save, r reset without saving, q quit; --driver.show_gui=True for a
                              camera viewer.
      --driver=.eval_ui       DearPyGui evaluation console (task, outcome, items, notes, submit/cancel);
                              --driver.time_cap=60.
      --output_dir=DIR        Record every episode as a Positronic dataset here (appends to an existing one).
      --policy_fps=15         Control rate: one action per tick.
      --simulate_timeout=False
                              Charge the measured inference time to simulated time (what a real robot would see).
      --seed=0                Episode i uses seed+i for the cube placement; the same seed replays the same scene.
      --camera_width=320 --camera_height=240
      --cameras=[...]         Cameras rendered for the policy and the recording.
      --render_quality=fast   `fast` (no shadows or multisampling, ~8x cheaper) or `default` (MuJoCo's defaults).
    """
    from positronic_core.sim.scene import RENDER_QUALITIES

    seed = flag_checks.integer("--seed", seed, minimum=0)
    policy_fps = flag_checks.positive_number("--policy_fps", policy_fps)
    camera_width = flag_checks.frame_size("--camera_width", camera_width)
    camera_height = flag_checks.frame_size("--camera_height", camera_height)
    simulate_timeout = flag_checks.boolean("--simulate_timeout", simulate_timeout)
    render_quality = flag_checks.choice("--render_quality", render_quality, RENDER_QUALITIES)

    from positronic_core.dataset.errors import DatasetError
    from positronic_core.runtime.sim_runtime import SimRuntime
    from positronic_core.sim.stack_cubes import StackCubesSim

    policy = policy if policy is not None else policy_cfg.scripted.instantiate()
    driver = driver if driver is not None else driver_cfg.timed.instantiate()
    cameras = _camera_list(cameras)
    # A driver that needs a terminal or a display says so now, not after seconds of building the simulator.
    preflight = getattr(driver, "preflight", None)
    if preflight is not None:
        preflight()
    try:
        robot = StackCubesSim(camera_size=(int(camera_width), int(camera_height)), cameras=cameras,
                              render_quality=render_quality)
    except ValueError as e:
        raise SystemExit(f"positronic-inference sim: error: {e} (check --cameras, --camera_width, "
                         "--camera_height, --render_quality)") from None
    try:
        runtime = SimRuntime(robot, policy, output_dir=None if output_dir is None else Path(output_dir).expanduser(),
                             policy_fps=float(policy_fps), cameras=cameras, simulate_timeout=bool(simulate_timeout),
                             seed=int(seed), statics={"simulation.render_quality": render_quality,
                                                      "simulation.camera_size": [int(camera_width),
                                                                                 int(camera_height)]})
    except DatasetError as e:
        robot.close()
        raise SystemExit(f"positronic-inference: error: {e}") from None
    try:
        driver.run(runtime)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        robot.close()
        policy.close()
    print(runtime.summary(), flush=True)
    if output_dir is not None and runtime.completed:
        root = Path(output_dir).expanduser().resolve()
        print(f"recorded to {root}", flush=True)
        # The script beside this interpreter, so the printed command runs as is from a venv nobody activated.
        server = Path(sys.executable).parent / "positronic-server"
        command = shlex.quote(str(server)) if server.exists() else "positronic-server"
        print(f"review with: {command} --dataset.path={shlex.quote(str(root))} --port=5001", flush=True)


def _camera_list(cameras: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`--cameras` as a list literal, or as a comma-separated string such as `image.wrist,image.exterior`."""
    if isinstance(cameras, str):
        cameras = [c.strip(" '\"") for c in cameras.strip("[]()").split(",") if c.strip()]
    return tuple(cameras)


def real(policy=None, driver=None, output_dir: str | None = None, robot_ip: str = "172.168.0.2",
         policy_fps: float = 15.0) -> None:
    """Run a policy on a real Franka through ROS 2 (franka_ros2).

    Not available yet: the real arm is driven by the ROS 2 layer (`ros2 launch positronic_bringup real.launch.py
    robot_ip:=...`), which bridges franka_ros2's joint states, cameras and a joint trajectory controller to this
    runtime. Until that layer ships this command stops before touching anything.
    """
    raise SystemExit(
        "positronic-inference real: error: driving a real Franka needs the ROS 2 layer (positronic_ros with "
        "franka_ros2 and ROS 2 Jazzy), which is not part of this release yet; nothing was started. "
        "Use `positronic-inference sim` meanwhile, or see the README's 'Real robot' section for the intended path.")


COMMANDS = {
    "sim": cfn.Config(sim, policy=policy_cfg.scripted, driver=driver_cfg.timed),
    "real": cfn.Config(real, policy=policy_cfg.remote, driver=driver_cfg.keyboard),
}


def main() -> None:
    argv = sys.argv[1:]
    if not argv or argv[0] not in COMMANDS:
        print("usage: positronic-inference {sim,real} [--flag=value ...]   (--help after the command for flags)",
              file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    run(COMMANDS[argv[0]], argv[1:], prog=f"positronic-inference {argv[0]}")


if __name__ == "__main__":
    main()
