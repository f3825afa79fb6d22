"""Writes the ros2_control stack-cubes MJCF and prints its path; the launch files pass it to mujoco_ros2_control."""

from positronic_core.sim.control_scene import main

__all__ = ["main"]
