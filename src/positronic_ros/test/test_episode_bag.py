"""Both bag writers give a bag our converter reads back exactly: rosbags (ROS 2 from PyPI's wheels) and rosbag2_py
(a full ROS 2), including a message type of our own, whose definition rosbags takes from the installed .msg file.
Messages go in as exact CDR, as the recorder's raw subscriptions receive them."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

from positronic_core.bags import convert_bags  # noqa: E402
from positronic_core.dataset import Dataset  # noqa: E402
from positronic_core.dataset.sample_text import sample_to_json  # noqa: E402
from positronic_ros import episode_bag  # noqa: E402
from positronic_ros.conversions import JOINT_NAMES  # noqa: E402

WRITERS = [pytest.param(episode_bag.RosbagsBag, id="rosbags")]
try:
    import rosbag2_py  # noqa: F401

    WRITERS.append(pytest.param(episode_bag.Rosbag2PyBag, id="rosbag2_py"))
except ImportError:
    WRITERS.append(pytest.param(None, id="rosbag2_py", marks=pytest.mark.skip("rosbag2_py needs a full ROS 2")))

START_NS = 1_000_000_000
STATS = "positronic_interfaces/msg/InferenceStats"


@pytest.mark.parametrize("writer", WRITERS)
def test_a_written_bag_converts_back_to_what_was_recorded(tmp_path: Path, writer) -> None:
    store = episode_bag.jazzy_typestore()
    episode_bag.register_installed(store, STATS)
    types = store.types

    def cdr(msg) -> bytes:
        return bytes(store.serialize_cdr(msg, msg.__msgtype__))

    def header(ns: int):
        stamp = types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id="")

    bag = writer(tmp_path / "episode_0000", "mcap")
    for name, type_name in (("/joint_states", "sensor_msgs/msg/JointState"),
                            ("/camera/wrist/image_raw", "sensor_msgs/msg/Image"),
                            ("/policy/timeline", "std_msgs/msg/String"), ("/policy/stats", STATS)):
        bag.add_topic(name, type_name)
    q = np.linspace(0.1, 0.7, 7)
    for step in range(5):
        ns = START_NS + step * 66_666_667
        joints = types["sensor_msgs/msg/JointState"](header=header(ns), name=list(JOINT_NAMES), position=q + step,
                                                     velocity=np.zeros(7), effort=np.zeros(0))
        bag.write("/joint_states", cdr(joints), ns)
        frame = types["sensor_msgs/msg/Image"](header=header(ns), height=48, width=64, encoding="rgb8",
                                               is_bigendian=0, step=64 * 3,
                                               data=np.full(48 * 64 * 3, 40 * step, dtype=np.uint8))
        bag.write("/camera/wrist/image_raw", cdr(frame), ns)
        timeline = types["std_msgs/msg/String"](data=sample_to_json("inference.idle", int(step == 0), ns))
        bag.write("/policy/timeline", cdr(timeline), ns + 1)
        stats = types[STATS](header=header(ns), policy_type="remote", model_id="1", session_open=True,
                             latency_ms=1.0, queue_depth=0, requests=step, idle_ticks=0, dropped_actions=0,
                             errors=0, last_error="")
        bag.write("/policy/stats", cdr(stats), ns + 2)
    bag.add_topic("/episode/metadata", "std_msgs/msg/String")
    bag.write("/episode/metadata", episode_bag.string_cdr('{"positronic.task": "hold"}'), START_NS + 10**9)
    bag.close()
    assert bag.messages == 21

    convert_bags([tmp_path / "episode_0000"], tmp_path / "dataset", progress=False, backend="rosbags")
    (episode,) = Dataset(tmp_path / "dataset")
    joints = episode.signal("robot_state.q")
    assert len(joints.timestamps) == 5 and np.allclose(joints.values[3], q + 3)
    assert [int(v) for v in episode.signal("inference.idle").values] == [1, 0, 0, 0, 0]
    assert len(episode.signal("image.wrist").timestamps) == 5
    assert episode.static["task"] == "hold"
