"""`ros2 run positronic_ros bag2dataset BAG... --output_dir=DIR`: the core's converter, under ROS's name."""

from positronic_core.bags.cli import main

__all__ = ["main"]
