"""ROS 2 system tests: they need rclpy and the workspace overlay (make test sources both when /opt/ros/jazzy
exists)."""

import importlib.util

import pytest


def pytest_collection_modifyitems(config, items):
    reason = None
    if importlib.util.find_spec("rclpy") is None:
        reason = "needs ROS 2 Jazzy: rclpy is not importable (source /opt/ros/jazzy/setup.bash)"
    elif importlib.util.find_spec("positronic_interfaces") is None:
        reason = "needs the workspace overlay: colcon build, then source install/setup.bash"
    if reason is None:
        return
    for item in items:
        if "test/ros" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))
