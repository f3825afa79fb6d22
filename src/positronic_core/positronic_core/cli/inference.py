"""`positronic-inference sim|real`: run a policy for episodes and record them as a Positronic dataset."""

from __future__ import annotations

import ctypes
import inspect
import shlex
import sys
from pathlib import Path

import configuronic as cfn

from positronic_core import allocator
from positronic_core.cfg import driver as driver_cfg
from positronic_core.cfg import policy as policy_cfg
from positronic_core.cli import flag_checks
from positronic_core.cli.runner import run
from positronic_core.stacking_task import CAMERAS


def sim(policy=None, driver=None, output_dir: str | None = None, policy_fps: float = 15.0,
        simulate_timeout: bool = False, seed: int = 0, camera_width: int = 320, camera_height: int = 240,
        cameras: tuple[str, ...] = CAMERAS, render_quality: str = "fast") -> None:
    """Run a policy on the MuJoCo Franka cube-stacking simulator.

    Flags are --name=value; a field such as --policy.host=HOST applies to the --policy chosen, in either order.

    Policy:
      --policy=.scripted        The built-in expert, which reads the simulator's cube poses (the default).
      --policy=.remote          A model on an inference server: ours or upstream 0.2.x (protocol v1), or upstream
                                0.4.x (v2, v3: one model per server; on v3 this side runs the codec stack it declares)
        --policy.host, --policy.port      the server (default localhost:8000)
        --policy.model_id                 the checkpoint to use (default: the server's latest; leave it unset for
                                          a 0.4.x server, which serves one model)
        --policy.resize                   downscale images whose longest side exceeds this many pixels before
                                          sending them (None sends them as rendered)
        --policy.token                    bearer token for a server bound beyond loopback
                                          (default: $POSITRONIC_AUTH_TOKEN)
        --policy.connect_timeout          seconds to wait for the server to accept the connection
        --policy.infer_timeout            seconds to wait for one chunk of actions
        --policy.session_params           session parameters a 0.4.x server declares, as a map, e.g.
                                          --policy.session_params='{"horizon_sec": 1.0}'
      --policy=.act_absolute, --policy=.act_joints
                                A LeRobot ACT checkpoint run in this process (needs torch and LeRobot):
        --policy.base.checkpoints_dir     LeRobot's training output directory
        --policy.base.checkpoint          the training step to load (default: the highest)
        --policy.base.device              torch device, e.g. cpu or cuda
        --policy.codec                    ee (end-effector pose actions) or joints (joint position actions)

    Driver, which decides when episodes start and stop:
      --driver=.timed           Episodes back to back without a human (the default):
        --driver.simulation_time          simulated seconds per episode
        --driver.num_iterations           number of episodes
      --driver=.keyboard        s starts an episode, p stops and saves it, r resets without saving, q quits.
      --driver=.eval_ui         A DearPyGui evaluation console: task, outcome, item counts, notes, submit/cancel.
        --driver.time_cap                 simulated seconds after which an episode stops as "ran out of time"
        --driver.tasks                    the instructions offered (the first is preselected)
      For .timed and .keyboard:
        --driver.task                     the instruction sent to the policy and recorded with the episode
        --driver.show_gui                 open a DearPyGui viewer of the cameras and the robot state
      For .keyboard and .eval_ui:
        --driver.realtime                 pace episodes to the wall clock (False runs as fast as the CPU allows)

    Run:
      --output_dir              Record every episode as a Positronic dataset here (appends to an existing one);
                                without it nothing is written.
      --policy_fps              Control rate in Hz: one action per tick, cameras rendered at this rate.
      --simulate_timeout        Charge the measured inference time to simulated time (what a real robot sees).
      --seed                    Episode i uses seed + i for the cube placement; the same seed replays the scene.
      --camera_width, --camera_height
                                Camera image size in pixels (even numbers: recorded video is yuv420p).
      --cameras                 Cameras rendered for the policy and the recording, e.g.
                                --cameras=image.wrist,image.exterior (of image.wrist, image.exterior,
                                image.agent_view).
      --render_quality          fast (no shadows or multisampling, about 8x cheaper) or default (MuJoCo's own).
    """
    from positronic_core.sim.scene import RENDER_QUALITIES

    seed = flag_checks.integer("--seed", seed, minimum=0)
    policy_fps = flag_checks.positive_number("--policy_fps", policy_fps)
    camera_width = flag_checks.frame_size("--camera_width", camera_width)
    camera_height = flag_checks.frame_size("--camera_height", camera_height)
    simulate_timeout = flag_checks.boolean("--simulate_timeout", simulate_timeout)
    render_quality = flag_checks.choice("--render_quality", render_quality, RENDER_QUALITIES)

    from positronic_core.dataset.errors import DatasetError
    from positronic_core.runtime.run_statics import simulation_statics
    from positronic_core.runtime.sim_runtime import SimRuntime
    from positronic_core.sim.stack_cubes import StackCubesSim
    from positronic_core.wire.client import InferenceError

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
                             seed=int(seed), statics=simulation_statics(render_quality, (camera_width, camera_height)))
    except DatasetError as e:
        robot.close()
        raise SystemExit(f"positronic-inference: error: {e}") from None
    failure: str | None = None
    interrupted = False
    try:
        driver.run(runtime)
    except (KeyboardInterrupt, ctypes.ArgumentError) as e:
        # A Ctrl-C that lands while ctypes converts a call's arguments (MuJoCo's EGL rendering, every tick) comes
        # out as that call's ArgumentError, naming KeyboardInterrupt; it is the same interrupt.
        if isinstance(e, ctypes.ArgumentError) and "KeyboardInterrupt" not in str(e):
            raise
        interrupted = True
        runtime.discard_running("interrupted")
        print("interrupted", file=sys.stderr, flush=True)
    except (InferenceError, DatasetError) as e:
        failure = str(e)
        runtime.discard_running("stopped by an error")
    finally:
        runtime.close()
        robot.close()
        policy.close()
    print(runtime.summary(), flush=True)
    recorded = [s.path for s in runtime.completed if s.path is not None]
    if recorded:
        root = Path(output_dir).expanduser().resolve()
        print(f"recorded to {root}", flush=True)
        # The script beside this interpreter, so the printed command runs as is from a venv nobody activated.
        server = Path(sys.executable).parent / "positronic-server"
        command = shlex.quote(str(server)) if server.exists() else "positronic-server"
        print(f"review with: {command} --dataset.path={shlex.quote(str(root))} --port=5001", flush=True)
    if failure is not None:
        raise SystemExit(f"positronic-inference sim: error: {failure}")
    if interrupted:
        raise SystemExit(130)


def _camera_list(cameras: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`--cameras` as a list literal, or as a comma-separated string such as `image.wrist,image.exterior`."""
    if isinstance(cameras, str):
        cameras = [c.strip(" '\"") for c in cameras.strip("[]()").split(",") if c.strip()]
    return tuple(cameras)


def real(policy=None, driver=None, output_dir: str | None = None, robot_ip: str = "172.168.0.2",
         policy_fps: float = 15.0, use_fake_hardware: bool = False, cameras: str | None = None,
         load_gripper: bool = True) -> None:
    """Run a policy on a real Franka FR3 through ROS 2 (ros2_control and franka_ros2).

    Starts `ros2 launch positronic_bringup real.launch.py` with these flags as its arguments: franka_ros2's robot
    bringup, the trajectory controller, the policy node (every command limited by config/fr3_safety.yaml; the arm
    holds within a tick if the server is lost), the episode driver and the recorder, which writes the same Positronic
    dataset as `sim`. Needs ROS 2 Jazzy with ros2_control, ros2_controllers, franka_ros2 and this workspace built
    and sourced (or the docker image's `ros` service); without them it says what is missing and starts nothing.
    `/policy/hold` and `/policy/resume` (std_srvs/Trigger) freeze and release the arm at any time.

    Flags (see `positronic-inference sim --help` for the --policy and --driver fields):
      --policy=.remote          the model, on a protocol v1 server (--policy.host, --policy.port,
                                --policy.model_id, --policy.resize; the token from --policy.token or
                                $POSITRONIC_AUTH_TOKEN)
      --driver=.keyboard        episodes started and stopped by service call (the default):
                                  ros2 service call /episode/start positronic_interfaces/srv/StartEpisode
                                  ros2 service call /episode/stop positronic_interfaces/srv/StopEpisode
      --driver=.timed           --driver.num_iterations episodes of --driver.simulation_time seconds back to back,
                                then everything stops
      --output_dir              record every episode as a Positronic dataset here (its bags in <output_dir>/bags);
                                without it nothing is written
      --robot_ip                the arm's controller address
      --use_fake_hardware       ros2_control mock hardware instead of the arm (no robot needed)
      --cameras                 cameras as name=topic pairs of any sensor_msgs/Image publishers, e.g.
                                --cameras=wrist=/wrist/color/image_raw,exterior=/ext/color/image_raw
                                (default: /camera/wrist/image_raw and /camera/exterior/image_raw)
      --load_gripper            a Franka Hand is mounted (franka_gripper)
      --policy_fps              control rate in Hz
    """
    import os
    import subprocess

    from positronic_core.cli import real_arm
    from positronic_core.dataset.reader import Dataset
    from positronic_core.runtime.drivers.timed import TimedDriver

    prog = "positronic-inference real"
    policy_fps = flag_checks.positive_number("--policy_fps", policy_fps)
    use_fake_hardware = flag_checks.boolean("--use_fake_hardware", use_fake_hardware)
    load_gripper = flag_checks.boolean("--load_gripper", load_gripper)
    missing = real_arm.missing_ros(os.environ)
    if missing:
        raise SystemExit(f"{prog}: error: driving the arm needs ROS 2 Jazzy with ros2_control and franka_ros2; "
                         f"missing: {'; '.join(missing)}. Nothing was started.")
    policy = policy if policy is not None else policy_cfg.remote.instantiate()
    driver = driver if driver is not None else driver_cfg.keyboard.instantiate()
    try:
        arguments = real_arm.launch_arguments(
            policy, driver, output_dir=output_dir, robot_ip=str(robot_ip), use_fake_hardware=bool(use_fake_hardware),
            cameras=None if cameras is None else ",".join(cameras) if isinstance(cameras, (list, tuple)) else cameras,
            policy_fps=float(policy_fps), load_gripper=bool(load_gripper))
    except ValueError as e:
        raise SystemExit(f"{prog}: error: {e}") from None
    env = dict(os.environ)
    # The token reaches the policy node through its environment only: DDS exposes node parameters to anyone.
    if policy.client.token:
        env["POSITRONIC_AUTH_TOKEN"] = policy.client.token
    root = None if output_dir is None else Path(output_dir).expanduser().resolve()
    before = len(Dataset(root)) if root is not None and root.is_dir() else 0
    print(f"{prog}: ros2 launch positronic_bringup real.launch.py {' '.join(map(shlex.quote, arguments))}",
          flush=True)
    launch = subprocess.Popen(["ros2", "launch", "positronic_bringup", "real.launch.py", *arguments], env=env)
    interrupted = False
    while True:
        try:
            launch.wait()
            break
        except KeyboardInterrupt:  # the launch got the terminal's Ctrl-C too and is shutting everything down
            interrupted = True
    recorded = (len(Dataset(root)) if root.is_dir() else 0) - before if root is not None else 0
    print(f"{recorded} episode{'s' if recorded != 1 else ''} recorded", flush=True)
    if recorded:
        print(f"recorded to {root}", flush=True)
        server = Path(sys.executable).parent / "positronic-server"
        command = shlex.quote(str(server)) if server.exists() else "positronic-server"
        print(f"review with: {command} --dataset.path={shlex.quote(str(root))} --port=5001", flush=True)
    if interrupted:
        raise SystemExit(130)
    expected = driver.num_iterations if isinstance(driver, TimedDriver) and root is not None else 0
    if recorded < expected:
        raise SystemExit(f"{prog}: error: {recorded} of {expected} episodes were recorded (see the launch output "
                         "above)")


COMMANDS = {
    "sim": cfn.Config(sim, policy=policy_cfg.scripted, driver=driver_cfg.timed),
    "real": cfn.Config(real, policy=policy_cfg.remote, driver=driver_cfg.keyboard),
}


def usage() -> str:
    """The top-level help: each command with the first line of its own help."""
    lines = ["usage: positronic-inference {sim,real} [--flag=value ...]", "",
             "Run a policy for episodes and record them as a Positronic dataset.", "", "commands:"]
    for name, command in COMMANDS.items():
        lines.append(f"  {name:6s}{inspect.getdoc(command.target).splitlines()[0]}")
    lines += ["", "`positronic-inference sim --help` (or `real --help`) lists a command's flags and their values."]
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return
    if not argv or argv[0] not in COMMANDS:
        problem = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"positronic-inference: error: {problem}; the commands are {', '.join(COMMANDS)} "
              "(see positronic-inference --help)", file=sys.stderr)
        raise SystemExit(2)
    allocator.keep_large_buffers()  # camera frames go out every tick
    run(COMMANDS[argv[0]], argv[1:], prog=f"positronic-inference {argv[0]}")

if __name__ == "__main__":
    main()
