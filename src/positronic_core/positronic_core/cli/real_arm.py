"""How `positronic-inference real` drives a real Franka: through the ROS 2 layer, by running
`ros2 launch positronic_bringup real.launch.py` with the command's flags as launch arguments. ROS-free: it only reads
the environment a sourced ROS 2 setup leaves (PATH, AMENT_PREFIX_PATH) to say exactly what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from positronic_core.policy.remote import RemotePolicy
from positronic_core.runtime.drivers.keyboard import KeyboardDriver
from positronic_core.runtime.drivers.timed import TimedDriver

#: Package (as the ament index names it) -> what provides it, for the one-line error.
REQUIRED_PACKAGES = {
    "positronic_bringup": "this workspace (colcon build, then source install/setup.bash)",
    "positronic_ros": "this workspace (colcon build, then source install/setup.bash)",
    "controller_manager": "ros2_control (apt: ros-jazzy-ros2-control)",
    "joint_state_broadcaster": "ros2_controllers (apt: ros-jazzy-ros2-controllers)",
    "joint_trajectory_controller": "ros2_controllers (apt: ros-jazzy-ros2-controllers)",
    "franka_description": "franka_description (franka_ros2 v3.4.x, built from source)",
    "franka_gripper": "franka_gripper (franka_ros2 v3.4.x, built from source)",
    "xacro": "xacro (apt: ros-jazzy-xacro)",
}


def missing_ros(env: Mapping[str, str]) -> list[str]:
    """What the ROS 2 path lacks in `env` (empty: everything is there), each naming how to get it."""
    if shutil.which("ros2", path=env.get("PATH", "")) is None:
        return ["ROS 2 Jazzy (no `ros2` command: source /opt/ros/jazzy/setup.bash)"]
    prefixes = [Path(p) for p in env.get("AMENT_PREFIX_PATH", "").split(":") if p]
    index = Path("share") / "ament_index" / "resource_index" / "packages"
    missing: list[str] = []
    for package, provider in REQUIRED_PACKAGES.items():
        if not any((prefix / index / package).exists() for prefix in prefixes) and provider not in missing:
            missing.append(provider)
    return missing


def launch_arguments(policy: Any, driver: Any, *, output_dir: str | None, robot_ip: str, use_fake_hardware: bool,
                     cameras: str | None, policy_fps: float, load_gripper: bool) -> list[str]:
    """real.launch.py's `name:=value` arguments for the command's flags; ValueError naming a flag it cannot map."""
    if not isinstance(policy, RemotePolicy):
        raise ValueError("--policy: the real arm runs --policy=.remote (a model on a protocol v1 server); local "
                         "models run behind `positronic-policy-server` on the robot PC or a GPU machine")
    args = {"robot_ip": robot_ip, "use_fake_hardware": str(use_fake_hardware).lower(),
            "load_gripper": str(load_gripper).lower(), "policy": "remote", "host": policy.client.host,
            "port": str(policy.client.port), "model_id": policy.model_id or "",
            "resize": str(policy.resize or 0), "policy_fps": str(float(policy_fps))}
    if isinstance(driver, TimedDriver):
        args.update(mode="timed", duration=str(driver.simulation_time), iterations=str(driver.num_iterations),
                    task=driver.task, exit_when_done="true")
    elif isinstance(driver, KeyboardDriver):
        args.update(mode="manual", task=driver.task)
    else:
        raise ValueError("--driver: the real arm runs --driver=.timed (episodes back to back) or --driver=.keyboard "
                         "(episodes started and stopped by the /episode/start and /episode/stop services)")
    if cameras:
        args["cameras"] = cameras
    if output_dir is None:
        args["record"] = "false"
    else:
        root = Path(output_dir).expanduser().resolve()
        # The dataset is --output_dir itself, as `sim` writes it; the episodes' bags go into its bags/ folder,
        # which dataset readers skip (only 12-digit block folders hold episodes).
        args.update(record="true", output_dir=str(root), dataset_dir=str(root))
    # `ros2 launch` refuses an empty value (`model_id:=`); an argument left out keeps its default.
    return [f"{name}:={value}" for name, value in args.items() if value != ""]
