"""Shared pytest set-up: test support helpers importable from every test, no network for the model hub, and ROS 2
kept to this session (see `test/support/ros_session.py`)."""

import os
import signal
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).parent / "test" / "support"))
# A shell started in the background (`cmd &` without job control, nohup) ignores SIGINT, and an ignored signal stays
# ignored across exec: the servers and runs the tests start would then shrug off the Ctrl-C the tests send them.
# A handler, unlike an ignore, is reset to the default on exec, so every child starts with SIGINT as a terminal has it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import ros_session  # noqa: E402


def pytest_configure(config):
    # Registered here rather than in pytest.ini: the ROS packages' own pytest configurations (colcon test) load this
    # file too.
    config.addinivalue_line("markers", "full_ros: needs a full ROS 2 install (the ros2 command line, launch, "
                                       "rosbag2_py); skipped on PyPI's ROS 2 wheels")
    # At start-up, before collection imports anything, so in-process nodes and every child process inherit it.
    ros_session.isolate()


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker("full_ros")]
    missing = ros_session.missing_full_ros() if marked else []
    if missing:
        skip = pytest.mark.skip(reason=f"needs a full ROS 2 install: {', '.join(missing)} missing here "
                                       "(PyPI's ROS 2 wheels do not have them)")
        for item in marked:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def ros_log_dir(tmp_path_factory):
    """ROS logs of the session's nodes land beside its other temporary files, not in ~/.ros/log; so does ROS_HOME,
    whose locks/ holds the one lock every controller spawner takes: a spawner of another session (or of the user's own
    launch) waiting for its controller manager cannot hold up this session's."""
    path = tmp_path_factory.mktemp("ros_log", numbered=False)
    os.environ["ROS_LOG_DIR"] = str(path)
    os.environ["ROS_HOME"] = str(tmp_path_factory.mktemp("ros_home", numbered=False))
    return path
