"""ROS 2 system tests: they need rclpy and the workspace overlay (`make test` and `make test-ros` set up both, from
/opt/ros/jazzy or from PyPI's ROS 2 wheels)."""

import importlib.util
import os
import signal

import pytest
import ros_session


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


@pytest.fixture()
def no_process_left():
    """Fails the test if a process it started in the session's ROS domain outlives it (and kills it)."""
    domain = int(os.environ["ROS_DOMAIN_ID"])
    before = set(ros_session.processes_in_domain(domain))
    yield
    left = ros_session.wait_domain_empty(domain, timeout=15, ignore=before)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running in the test's ROS domain: {left}"
