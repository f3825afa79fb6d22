"""The ROS 2 loop brought up the way the README says: `ros2 launch`, `ros2 service call`, `ros2 topic echo`, then
the episode's bag converted to a dataset that `positronic-server` opens. Topic rates are measured by
`bench/ros_topics.py`; here only their arrival is asserted."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import ros_session

from positronic_core.dataset.reader import Dataset
from positronic_core.stacking_task import TASK

pytestmark = pytest.mark.full_ros

BIN = Path(sys.executable).parent


def _ros2(*args, env, timeout=60):
    # `--no-daemon` wherever a verb has it: a ros2 daemon would outlive the test.
    return subprocess.run(["ros2", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def launched(tmp_path, no_process_left):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "launch.log", "w")
    proc = subprocess.Popen(
        ["ros2", "launch", "positronic_bringup", "sim.launch.py", "record:=true", f"output_dir:={tmp_path}",
         "mode:=manual"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield env, tmp_path, proc
    finally:
        ros_session.stop_launch(proc)
        log.close()


def test_launch_records_an_episode_that_converts_and_opens_in_the_review_server(launched):
    env, out, proc = launched
    _wait(lambda: "/episode/start" in _ros2("service", "list", "--no-daemon", env=env).stdout, 120, "/episode/start")

    deadline = time.monotonic() + 120
    while True:
        started = _ros2("service", "call", "/episode/start", "positronic_interfaces/srv/StartEpisode",
                        f"{{task: '{TASK}'}}", env=env)
        # Refused, with a message, until the policy node is up.
        if "not up yet" not in started.stdout or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert "success=True" in started.stdout, started.stdout + started.stderr

    # Configured: joint states at 60 Hz and cameras at 15 Hz of simulated time.
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState

    wanted = {"/joint_states": 60, "/camera/wrist/image_raw": 15}
    received = ros_session.receive({"/joint_states": (JointState, 10),
                                    "/camera/wrist/image_raw": (Image, qos_profile_sensor_data)}, wanted, timeout=60)
    counts = {topic: len(msgs) for topic, msgs in received.items()}
    assert all(counts[t] >= n for t, n in wanted.items()), f"received {counts} in 60 s, wanted {wanted}"
    stats = _ros2("topic", "echo", "--once", "--no-daemon", "/policy/stats", env=env, timeout=30).stdout
    assert "session_open: true" in stats and "policy_type: scripted" in stats

    stopped = _ros2("service", "call", "/episode/stop", "positronic_interfaces/srv/StopEpisode",
                    "{save: true, outcome: success}", env=env)
    assert "success=True" in stopped.stdout, stopped.stdout + stopped.stderr

    dataset = out / "dataset"
    _wait(lambda: dataset.is_dir() and len(list(Dataset(dataset))) == 1, 120, "the converted episode")
    episode = Dataset(dataset)[0]
    assert episode.static["task"] == TASK
    assert episode.static["eval.outcome"] == "success"
    assert episode.static["inference.policy.type"] == "scripted"
    for name in ("robot_state.q", "robot_state.ee_pose", "grip", "image.wrist", "image.exterior",
                 "robot_commands.pose", "target_grip", "stacking_success"):
        assert name in episode.signal_names, name
    assert len(list((out / "bags").iterdir())) == 1

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(BIN / "positronic-server"), f"--dataset.path={dataset}", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def listed():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/episodes", timeout=2) as r:
                    return json.load(r)
            except OSError:
                return None

        _wait(lambda: (listed() or {}).get("total") == 1, 60, "positronic-server to list the episode")
    finally:
        server.terminate()
        server.wait(timeout=30)
