"""recorder_node under real ROS 2: an episode's bag survives a Ctrl-C that comes right after the episode, converted,
and a saved bag that was never converted is converted at the next start, once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

import rclpy  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from positronic_core.dataset.reader import Dataset  # noqa: E402
from positronic_interfaces.msg import EpisodeStatus  # noqa: E402
from positronic_ros import conversions  # noqa: E402

CAMERA = "/camera/wrist/image_raw"
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Recorder:
    """recorder_node as its own process, as launch runs it; its log is read to follow it."""

    def __init__(self, log: Path, bags: Path, dataset: Path | None) -> None:
        params = [f"output_dir:={bags}", f"topics:=['/joint_states', '{CAMERA}']"]
        if dataset is not None:
            params.append(f"dataset_dir:={dataset}")
        args = [arg for p in params for arg in ("-p", p)]
        self.log = log
        self._out = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from positronic_ros.recorder_node import main; main()", "--ros-args", *args],
            stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, line: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.text():
            assert self.proc.poll() is None, f"recorder_node exited early:\n{self.text()}"
            assert time.monotonic() < deadline, f"timed out waiting for {line!r} from recorder_node:\n{self.text()}"
            time.sleep(0.05)

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C; its exit status, waiting `timeout` s at most."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture()
def start_recorder(tmp_path):
    """Starts recorder_node processes and waits for each to come up; kills any still running when the test ends."""
    started = []

    def start(name: str, bags: Path, dataset: Path | None) -> Recorder:
        recorder = Recorder(tmp_path / f"{name}.log", bags, dataset)
        started.append(recorder)
        recorder.wait_for("recording 2 topics")
        return recorder

    yield start
    for recorder in started:
        recorder.kill()


@pytest.fixture()
def ros_node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("test_recorder_feeder", context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def record_episode(node, recorder: Recorder, index: int) -> None:
    """One short saved episode: status RUNNING, joint states and camera frames, then status IDLE saved."""
    status_pub = node.create_publisher(EpisodeStatus, "/episode/status", LATCHED)
    joints_pub = node.create_publisher(JointState, "/joint_states", 100)
    camera_pub = node.create_publisher(Image, CAMERA, 100)
    _wait(lambda: joints_pub.get_subscription_count() and camera_pub.get_subscription_count(), 30,
          "recorder_node to subscribe to /joint_states and the camera")
    status_pub.publish(EpisodeStatus(state=EpisodeStatus.RUNNING, episode_index=index, task="stack", seed=index))
    recorder.wait_for(f"recording episode {index}")
    frame = np.zeros((48, 64, 3), np.uint8)
    for i in range(20):
        stamp = conversions.ns_to_stamp(1_000_000_000 + i * 50_000_000)
        joints_pub.publish(conversions.joint_state_msg(np.full(7, i / 100), np.zeros(7), stamp))
        frame[:] = i * 10
        image = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=frame.tobytes())
        image.header.stamp = stamp
        camera_pub.publish(image)
        time.sleep(0.02)
    # Give the last messages time to arrive before the bag closes.
    time.sleep(0.5)
    status_pub.publish(EpisodeStatus(state=EpisodeStatus.IDLE, episode_index=index, task="stack", seed=index,
                                     saved=True, outcome="success"))
    recorder.wait_for("saved ")


def test_ctrl_c_right_after_an_episode_still_converts_it(tmp_path, ros_node, start_recorder):
    bags, dataset = tmp_path / "bags", tmp_path / "dataset"
    recorder = start_recorder("recorder", bags, dataset)
    record_episode(ros_node, recorder, 0)
    assert recorder.interrupt() == 0, recorder.text()

    assert "converted episode_0000_" in recorder.text(), recorder.text()
    episodes = list(Dataset(dataset))
    assert len(episodes) == 1
    [bag] = bags.iterdir()
    assert episodes[0].static["ros.bag"] == bag.name
    assert episodes[0].static["eval.outcome"] == "success"
    assert len(episodes[0].signal("robot_state.q")) > 0 and "image.wrist" in episodes[0].video_names


def test_a_saved_bag_left_unconverted_is_converted_at_the_next_start_once(tmp_path, ros_node, start_recorder):
    bags, dataset = tmp_path / "bags", tmp_path / "dataset"
    first = start_recorder("first", bags, dataset=None)
    record_episode(ros_node, first, 0)
    assert first.interrupt() == 0, first.text()
    assert not dataset.exists()

    second = start_recorder("second", bags, dataset)
    second.wait_for("converted episode_0000_")
    assert second.interrupt() == 0, second.text()
    assert "saved by an earlier run" in second.text()
    assert len(Dataset(dataset)) == 1

    third = start_recorder("third", bags, dataset)
    assert third.interrupt() == 0, third.text()
    assert "saved by an earlier run" not in third.text()
    assert len(Dataset(dataset)) == 1


def test_a_bag_keeps_what_arrived_between_the_episodes_start_and_its_status(tmp_path, ros_node, start_recorder):
    """The policy's first chunk can reach the recorder before the status that opens the bag does."""
    bags, dataset = tmp_path / "bags", tmp_path / "dataset"
    recorder = start_recorder("recorder", bags, dataset)
    status_pub = ros_node.create_publisher(EpisodeStatus, "/episode/status", LATCHED)
    joints_pub = ros_node.create_publisher(JointState, "/joint_states", 100)
    camera_pub = ros_node.create_publisher(Image, CAMERA, 100)
    _wait(lambda: joints_pub.get_subscription_count() and camera_pub.get_subscription_count(), 30,
          "recorder_node to subscribe to /joint_states and the camera")

    def joints(q: float) -> None:
        """One joint state and one frame (a dataset needs a camera)."""
        stamp = conversions.ns_to_stamp(time.time_ns())
        joints_pub.publish(conversions.joint_state_msg(np.full(7, q), np.zeros(7), stamp))
        image = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=bytes(48 * 64 * 3))
        image.header.stamp = stamp
        camera_pub.publish(image)

    joints(0.1)  # the last episode's tail: not this one's
    time.sleep(0.3)
    started = time.time_ns()
    joints(0.2)
    time.sleep(0.3)
    running = EpisodeStatus(state=EpisodeStatus.RUNNING, episode_index=0, task="stack", seed=0)
    running.header.stamp = conversions.ns_to_stamp(started)
    status_pub.publish(running)
    recorder.wait_for("recording episode 0")
    joints(0.3)
    time.sleep(0.5)
    status_pub.publish(EpisodeStatus(state=EpisodeStatus.IDLE, episode_index=0, task="stack", seed=0, saved=True,
                                     outcome="success", elapsed=1.0))
    recorder.wait_for("converted episode_0000_")
    assert recorder.interrupt() == 0, recorder.text()

    [episode] = list(Dataset(dataset))
    assert [round(float(q[0]), 2) for q in episode.signal("robot_state.q").values] == [0.2, 0.3]
