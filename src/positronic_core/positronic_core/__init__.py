"""Positronic for ROS 2: the ROS-free core."""

__version__ = "0.1.0"
