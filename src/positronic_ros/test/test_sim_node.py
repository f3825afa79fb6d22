"""sim_node over real DDS, as its own process: state, clock and camera topics arrive on the simulated-time grid they
are configured for, frames decode at the configured size, and Ctrl-C ends it cleanly. Needs rclpy only, so it runs
on PyPI's ROS 2 wheels as on a full install."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

import ros_session  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from positronic_ros import conversions  # noqa: E402

CONFIG = Path(__file__).resolve().parents[3] / "config" / "sim.yaml"
CAMERA = "/camera/wrist/image_raw"
STATE_RATE, CAMERA_FPS = 60, 15  # config/sim.yaml


def on_grid(stamps_ns: list[int], rate_hz: float) -> bool:
    """Every stamp is a whole number of 1/rate_hz steps (sim_node rounds each step's time to the nanosecond)."""
    return all(ns == round(round(ns * rate_hz / 1e9) * 1e9 / rate_hz) for ns in stamps_ns)


def test_sim_node_publishes_state_clock_and_frames_in_simulated_time(tmp_path):
    with open(tmp_path / "sim_node.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from positronic_ros.sim_node import main; main()", "--ros-args",
             "--params-file", str(CONFIG), "-p", "camera_width:=160", "-p", "camera_height:=120"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            received = ros_session.receive(
                {"/joint_states": (JointState, 10), "/clock": (Clock, 10), CAMERA: (Image, qos_profile_sensor_data)},
                {"/joint_states": 30, "/clock": 30, CAMERA: 5}, timeout=60)
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = (tmp_path / "sim_node.log").read_text()
    counts = {topic: len(msgs) for topic, msgs in received.items()}
    assert counts["/joint_states"] >= 30 and counts["/clock"] >= 30 and counts[CAMERA] >= 5, (counts, output)
    assert status == 0, output

    joint_stamps = [conversions.stamp_to_ns(m.header.stamp) for m in received["/joint_states"]]
    assert joint_stamps == sorted(set(joint_stamps)) and on_grid(joint_stamps, STATE_RATE)
    assert on_grid([conversions.stamp_to_ns(m.clock) for m in received["/clock"]], STATE_RATE)
    assert on_grid([conversions.stamp_to_ns(m.header.stamp) for m in received[CAMERA]], CAMERA_FPS)

    q, dq = conversions.joint_state_arrays(received["/joint_states"][-1])
    assert q.shape == dq.shape == (7,) and np.isfinite(q).all()
    frame = conversions.image_to_array(received[CAMERA][-1])
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    assert frame.std() > 0, "the rendered frame is blank"
