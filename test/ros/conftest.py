"""ROS 2 system tests: they need rclpy and the workspace overlay (`make test` and `make test-ros` set up both, from
/opt/ros/jazzy or from PyPI's ROS 2 wheels)."""

import importlib.util

import pytest


def pytest_collection_modifyitems(config, items):
    reason = None
    if importlib.util.find_spec("rclpy") is None:
        reason = "needs ROS 2 Jazzy: rclpy is not importable (run them with make test-ros)"
    elif importlib.util.find_spec("positronic_interfaces") is None:
        reason = "needs the workspace overlay: colcon build, then source install/setup.bash (make test-ros does both)"
    if reason is None:
        return
    for item in items:
        if "test/ros" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))
