"""Both bag writers give a bag our converter reads back exactly: rosbags (ROS 2 from PyPI's wheels) and rosbag2_py
(a full ROS 2), including a message type of our own, whose definition rosbags takes from the installed .msg file."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

from rclpy.serialization import serialize_message  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from positronic_core.bags import convert_bags  # noqa: E402
from positronic_core.dataset import Dataset  # noqa: E402
from positronic_core.dataset.sample_text import sample_to_json  # noqa: E402
from positronic_interfaces.msg import InferenceStats  # noqa: E402
from positronic_ros import conversions, episode_bag  # noqa: E402

WRITERS = [pytest.param(episode_bag.RosbagsBag, id="rosbags")]
try:
    import rosbag2_py  # noqa: F401

    WRITERS.append(pytest.param(episode_bag.Rosbag2PyBag, id="rosbag2_py"))
except ImportError:
    WRITERS.append(pytest.param(None, id="rosbag2_py", marks=pytest.mark.skip("rosbag2_py needs a full ROS 2")))

START_NS = 1_000_000_000


@pytest.mark.parametrize("writer", WRITERS)
def test_a_written_bag_converts_back_to_what_was_recorded(tmp_path: Path, writer) -> None:
    bag = writer(tmp_path / "episode_0000", "mcap")
    for name, type_name in (("/joint_states", "sensor_msgs/msg/JointState"),
                            ("/camera/wrist/image_raw", "sensor_msgs/msg/Image"),
                            ("/policy/timeline", "std_msgs/msg/String"),
                            ("/policy/stats", "positronic_interfaces/msg/InferenceStats")):
        bag.add_topic(name, type_name)
    q = np.linspace(0.1, 0.7, 7)
    for step in range(5):
        ns = START_NS + step * 66_666_667
        stamp = conversions.ns_to_stamp(ns)
        bag.write("/joint_states", serialize_message(conversions.joint_state_msg(q + step, q * 0, stamp)), ns)
        frame = np.full((48, 64, 3), 40 * step, dtype=np.uint8)
        bag.write("/camera/wrist/image_raw", serialize_message(conversions.array_to_image(frame, stamp, "wrist")), ns)
        timeline = String(data=sample_to_json("inference.idle", int(step == 0), ns))
        bag.write("/policy/timeline", serialize_message(timeline), ns + 1)
        bag.write("/policy/stats", serialize_message(InferenceStats(requests=step)), ns + 2)
    bag.close()
    assert bag.messages == 20

    convert_bags([tmp_path / "episode_0000"], tmp_path / "dataset", progress=False, backend="rosbags")
    (episode,) = Dataset(tmp_path / "dataset")
    joints = episode.signal("robot_state.q")
    assert len(joints.timestamps) == 5 and np.allclose(joints.values[3], q + 3)
    assert [int(v) for v in episode.signal("inference.idle").values] == [1, 0, 0, 0, 0]
    assert len(episode.signal("image.wrist").timestamps) == 5
