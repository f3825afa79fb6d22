"""`positronic-inference real` without ROS 2 (one line naming what is missing, nothing started) and its flags as
real.launch.py arguments. The run on ROS 2 itself is test/ros/test_inference_real.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from positronic_core.cfg import driver as driver_cfg
from positronic_core.cfg import policy as policy_cfg
from positronic_core.cli import real_arm

SRC = Path(__file__).resolve().parents[2]


def test_without_ros_the_command_says_in_one_line_what_is_missing_and_starts_nothing(tmp_path):
    out = tmp_path / "run"
    # A clean environment: no sourced ROS 2 at all.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-m", "positronic_core.cli.inference", "real", "--policy=.remote",
                           "--policy.host=gpu-server", f"--output_dir={out}"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("positronic-inference real: error: ") and "source /opt/ros/jazzy/setup.bash" in line
    assert not out.exists()


def _sourced(tmp_path, packages):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "ros2").write_text("#!/bin/sh\n")
    (bin_dir / "ros2").chmod(0o755)
    prefix = tmp_path / "prefix"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for package in packages:
        (index / package).touch()
    return {"PATH": f"{bin_dir}{os.pathsep}/usr/bin", "AMENT_PREFIX_PATH": str(prefix)}


def test_with_ros_but_no_control_stack_each_missing_provider_is_named_once(tmp_path):
    env = _sourced(tmp_path, ["positronic_bringup", "positronic_ros", "xacro", "controller_manager"])
    assert real_arm.missing_ros(env) == [
        "ros2_controllers (apt: ros-jazzy-ros2-controllers)",
        "franka_description (franka_ros2 v3.4.x, built from source)",
        "franka_gripper (franka_ros2 v3.4.x, built from source)"]
    assert real_arm.missing_ros(_sourced(tmp_path / "all", real_arm.REQUIRED_PACKAGES)) == []


def _args(argv):
    return dict(arg.split(":=", 1) for arg in argv)


def test_flags_become_launch_arguments(tmp_path):
    policy = policy_cfg.remote.override(host="gpu-server", port=9000, model_id="7").instantiate()
    timed = driver_cfg.timed.override(simulation_time=20.0, num_iterations=3).instantiate()
    args = _args(real_arm.launch_arguments(policy, timed, output_dir=str(tmp_path / "ds"), robot_ip="172.16.0.2",
                                           use_fake_hardware=False, cameras="wrist=/w", policy_fps=10.0,
                                           load_gripper=True))
    assert args["host"] == "gpu-server" and args["port"] == "9000" and args["model_id"] == "7"
    assert args["mode"] == "timed" and args["duration"] == "20.0" and args["iterations"] == "3"
    assert args["exit_when_done"] == "true" and args["robot_ip"] == "172.16.0.2" and args["cameras"] == "wrist=/w"
    assert args["dataset_dir"] == str((tmp_path / "ds").resolve()) and args["record"] == "true"
    manual = _args(real_arm.launch_arguments(policy, driver_cfg.keyboard.instantiate(), output_dir=None,
                                             robot_ip="x", use_fake_hardware=True, cameras=None, policy_fps=15.0,
                                             load_gripper=False))
    assert manual["mode"] == "manual" and manual["record"] == "false" and "cameras" not in manual
    assert manual["use_fake_hardware"] == "true" and manual["load_gripper"] == "false"


@pytest.mark.parametrize(("policy", "driver", "flag"), [
    (policy_cfg.scripted, driver_cfg.timed, "--policy"),
    (policy_cfg.remote, driver_cfg.eval_ui, "--driver"),
])
def test_what_the_real_arm_cannot_run_is_named_by_its_flag(policy, driver, flag):
    with pytest.raises(ValueError, match=f"^{flag}: "):
        real_arm.launch_arguments(policy.instantiate(), driver.instantiate(), output_dir=None, robot_ip="x",
                                  use_fake_hardware=True, cameras=None, policy_fps=15.0, load_gripper=True)
