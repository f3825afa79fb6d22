"""Prints the simulated Panda's URDF; the launch files feed it to robot_state_publisher."""

from positronic_core.sim.urdf_export import main

__all__ = ["main"]
