"""`positronic-inference real` on ROS 2 with the control stack present, with fake hardware and a short timed
episode: the seed's command and flags (`--policy=.remote --policy.host=... --output_dir=...`) start real.launch.py,
the arm moves under a joint-moving model, everything stops after the episode, and --output_dir is a Positronic
dataset as `sim` writes it."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.full_ros, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "test" / "support" / "joint_sweep_server.py"
CAMERA_TOPIC = "/cli_test_camera/image_raw"


@pytest.fixture(autouse=True)
def control_stack():
    from positronic_core.cli import real_arm

    missing = real_arm.missing_ros(os.environ)
    if missing:
        pytest.skip(f"needs ROS 2 with ros2_control and franka_ros2 (the control overlay at /opt/ros/jazzy-control, "
                    f"sourced): missing {'; '.join(missing)}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _camera(stop: threading.Event):
    """Any Image publisher: a 15 Hz test pattern on a topic of its own, until `stop`."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("test_camera", context=context)
    pub = node.create_publisher(Image, CAMERA_TOPIC, qos_profile_sensor_data)
    data = bytes(np.full((32, 32, 3), 90, np.uint8).tobytes())
    while not stop.wait(1 / 15):
        frame = Image(height=32, width=32, encoding="rgb8", step=96, data=data)
        frame.header.stamp = node.get_clock().now().to_msg()
        pub.publish(frame)
    node.destroy_node()
    rclpy.shutdown(context=context)


def test_the_seeds_command_drives_the_fake_arm_and_records_a_dataset(tmp_path, no_process_left):
    from positronic_core.dataset.reader import Dataset

    port = _free_port()
    log = open(tmp_path / "run.log", "w")
    server = subprocess.Popen([sys.executable, str(SWEEP), str(port)], stdout=log, stderr=subprocess.STDOUT)
    stop = threading.Event()
    camera = threading.Thread(target=_camera, args=(stop,))
    camera.start()
    out = tmp_path / "dataset"
    command = [sys.executable, "-m", "positronic_core.cli.inference", "real", "--policy=.remote",
               "--policy.host=127.0.0.1", f"--policy.port={port}", f"--output_dir={out}", "--use_fake_hardware=True",
               f"--cameras=wrist={CAMERA_TOPIC}", "--driver=.timed", "--driver.simulation_time=6",
               "--driver.num_iterations=1", "--driver.task=sweep"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    started = time.monotonic()
    try:
        output, _ = run.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGINT)
        output, _ = run.communicate(timeout=60)
        raise AssertionError(f"positronic-inference real did not finish:\n{output[-3000:]}") from None
    finally:
        stop.set()
        camera.join()
        server.terminate()
        server.wait(timeout=30)
        log.close()
        (tmp_path / "cli.log").write_text(locals().get("output") or "")
    elapsed = time.monotonic() - started
    assert run.returncode == 0, output[-3000:]
    assert "1 episode recorded" in output and f"recorded to {out.resolve()}" in output, output[-2000:]
    (episode,) = Dataset(out)
    assert episode.static["task"] == "sweep"
    q = np.asarray(episode.signal("robot_state.q").values)
    assert q[:, 0].max() - q[:, 0].min() > 0.1
    for name in ("image.wrist", "robot_commands.joints", "grip", "robot_state.ee_pose"):
        assert name in episode.signal_names, name
    print(f"positronic-inference real, one 6 s episode on fake hardware: {elapsed:.1f} s wall")
