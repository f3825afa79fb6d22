"""`recorder_node`: one rosbag2 bag (MCAP by default) per episode, written with rosbag2_py or rosbags (`episode_bag`).

Follows `/episode/status`: a bag opens when an episode turns RUNNING and closes when it turns IDLE; a discarded
episode's bag is deleted. A bag also gets what arrived in the moment before the status did, from the episode's start
on (`positronic_core.bags.pre_roll`): the policy's first chunk may beat the status to this node.

The episode's metadata (task, seed, policy identity from `/policy/meta`, outcome, notes) goes into the bag as JSON on
`/episode/metadata`, which `positronic-bag2dataset` turns into statics. With `dataset_dir` set, each saved bag is
also converted into a Positronic dataset there, ready for `positronic-server`.
Messages are stored serialized as received (no deserialization), stamped with the ROS clock.

Conversions run one at a time on a worker thread. At shutdown the node waits for them (`conversion_wait` seconds at
most); a saved bag whose conversion did not finish, for whatever reason, is converted when the node next starts with
the same `output_dir` and `dataset_dir`: a bag counts as converted once an episode's `ros.bag` static names it.
"""

from __future__ import annotations

import importlib
import json
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

import yaml
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from std_msgs.msg import String

from positronic_core.bags.pre_roll import PreRoll
from positronic_interfaces.msg import EpisodeStatus
from positronic_ros import conversions
from positronic_ros.episode_bag import EpisodeBag, open_episode_bag, string_cdr
from positronic_ros.node_main import declare, spin

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
DEFAULT_TOPICS = ["/joint_states", "/ee_pose", "/gripper/state", "/gripper/command", "/command/pose",
                  "/command/joint_trajectory", "/camera/wrist/image_raw", "/camera/exterior/image_raw",
                  "/sim/box_distance", "/sim/stacking_success", "/policy/stats", "/policy/timeline"]
METADATA_TOPIC = "/episode/metadata"


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__("recorder_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        self.output_dir = Path(param("output_dir", "recordings/bags", "Directory receiving one bag per episode"))
        self.topics = list(param("topics", DEFAULT_TOPICS, "Topics recorded in each bag"))
        self.storage_id = str(param("storage_id", "mcap", "rosbag2 storage plugin: mcap or sqlite3"))
        self.dataset_dir = str(param("dataset_dir", "", "If set, convert each saved bag into this dataset"))
        self.conversion_wait = float(param(
            "conversion_wait", 30.0,
            "At shutdown, seconds to wait for bag conversions still running; the rest resume at the next start"))
        self.bag: EpisodeBag | None = None
        self.episode_index = -1
        self.status: EpisodeStatus | None = None
        #: Statics the policy and sim nodes publish (latched), under their dataset names.
        self.run_statics: dict[str, dict[str, Any]] = {}
        self._topic_subscriptions: dict[str, Any] = {}
        self._last_stamp: dict[str, int] = {}
        self._pre_roll = PreRoll()
        self._lock = threading.Lock()
        self.create_subscription(EpisodeStatus, "/episode/status", self._on_status, LATCHED)
        for topic in ("/policy/meta", "/sim/meta"):
            self.create_subscription(String, topic, lambda m, t=topic: self._on_run_statics(t, m), LATCHED)
        self.create_timer(1.0, self._subscribe_missing)
        self._conversions: queue.Queue[Path | None] = queue.Queue()
        self._converter: threading.Thread | None = None
        if self.dataset_dir:
            # A daemon, so a conversion that outlasts `conversion_wait` cannot keep the process alive; its bag
            # resumes at the next start.
            self._converter = threading.Thread(target=self._convert_queued, name="bag_conversion", daemon=True)
            self._converter.start()
            for bag in self._unconverted_bags():
                self.get_logger().info(f"converting {bag.name}, saved by an earlier run but not converted")
                self._conversions.put(bag)
        self.get_logger().info(f"recording {len(self.topics)} topics into {self.output_dir}")

    def _on_run_statics(self, topic: str, msg: String) -> None:
        try:
            statics = json.loads(msg.data)
        except ValueError:
            statics = None
        if not isinstance(statics, dict):
            self.get_logger().warning(f"ignoring {topic}: not a JSON object")
            return
        self.run_statics[topic] = statics

    def _subscribe_missing(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for topic in self.topics:
            # A remapped topic (a camera driver's own topic, a controller's command topic) is found in the graph
            # under its remapped name, and recorded under ours.
            graph_name = self.resolve_topic_name(topic)
            if topic in self._topic_subscriptions or graph_name not in types:
                continue
            type_name = types[graph_name][0]
            qos = qos_profile_sensor_data if "/camera/" in topic else 100
            self._topic_subscriptions[topic] = self.create_subscription(
                message_class(type_name), topic, lambda data, t=topic, n=type_name: self._on_message(t, n, data),
                qos, raw=True)

    def _on_message(self, topic: str, type_name: str, data: bytes) -> None:
        with self._lock:
            # Under use_sim_time the clock advances once per /clock message, so several messages of one topic can
            # arrive at the same instant; a nanosecond apart keeps them distinct for header-less topics, whose
            # receive time is their only timestamp.
            stamp = max(self.get_clock().now().nanoseconds, self._last_stamp.get(topic, -1) + 1)
            self._last_stamp[topic] = stamp
            if self.bag is None:
                self._pre_roll.hold(topic, type_name, data, stamp)
                return
            self.bag.add_topic(topic, type_name)
            self.bag.write(topic, data, stamp)

    def _on_status(self, msg: EpisodeStatus) -> None:
        if msg.state == EpisodeStatus.RUNNING and msg.episode_index != self.episode_index:
            self._close(save=False, reason="a new episode started before the last one ended")
            self.episode_index = msg.episode_index
            self.status = msg
            self._open(msg)
        elif msg.state == EpisodeStatus.IDLE and msg.episode_index == self.episode_index and self.bag is not None:
            self.status = msg
            self._close(save=msg.saved)

    def _open(self, status: EpisodeStatus) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        stamp = self.get_clock().now().nanoseconds
        path = self.output_dir / f"episode_{status.episode_index:04d}_{stamp}"
        # An unstamped status gives no start to reach back to.
        started = conversions.stamp_to_ns(status.header.stamp)
        start_ns = started - int(status.elapsed * 1e9) if started else stamp
        with self._lock:
            self.bag = open_episode_bag(path, self.storage_id)
            for held in self._pre_roll.take_since(start_ns):
                self.bag.add_topic(held.topic, held.type_name)
                self.bag.write(held.topic, held.data, held.stamp_ns)
        self._subscribe_missing()
        self.get_logger().info(f"recording episode {status.episode_index} to {path}")

    def _metadata(self) -> dict[str, Any]:
        status = self.status
        meta: dict[str, Any] = {"positronic.task": status.task, "positronic.simulation.seed": status.seed,
                                "positronic.simulation.iteration": status.episode_index,
                                "positronic.outcome": status.outcome, "positronic.notes": status.notes,
                                "positronic.episode.duration_s": status.elapsed}
        try:
            extra = json.loads(status.metadata) if status.metadata else {}
        except ValueError:
            extra = {}
        meta.update({f"positronic.{k}": v for k, v in extra.items()})
        for statics in self.run_statics.values():
            meta.update({f"positronic.{k}": v for k, v in statics.items()})
        return meta

    def _close(self, save: bool, reason: str = "") -> None:
        with self._lock:
            bag, self.bag = self.bag, None
        if bag is None:
            return
        if save:
            bag.add_topic(METADATA_TOPIC, "std_msgs/msg/String")
            bag.write(METADATA_TOPIC, string_cdr(json.dumps(self._metadata(), default=str)),
                      self.get_clock().now().nanoseconds)
        bag.close()
        if not save:
            shutil.rmtree(bag.path, ignore_errors=True)
            self.get_logger().info(f"discarded episode bag {bag.path}{': ' + reason if reason else ''}")
            return
        self.get_logger().info(f"saved {bag.path} ({bag.messages} messages)")
        if self._converter is not None:
            self._conversions.put(bag.path)

    def _unconverted_bags(self) -> list[Path]:
        """Saved bags of `output_dir` (closed, with episode metadata) that no episode of `dataset_dir` came from."""
        from positronic_core.dataset.reader import Dataset

        if not self.output_dir.is_dir():
            return []
        dataset = Path(self.dataset_dir)
        converted = {episode.static.get("ros.bag") for episode in Dataset(dataset)} if dataset.is_dir() else set()
        saved = [bag for bag in self.output_dir.iterdir() if bag.name not in converted and _saved_bag(bag)]
        return sorted(saved, key=lambda bag: bag.stat().st_mtime)

    def _convert_queued(self) -> None:
        from positronic_core.bags.convert import convert_bags

        while (bag := self._conversions.get()) is not None:
            try:
                reports = convert_bags([bag], Path(self.dataset_dir), progress=False)
                self.get_logger().info(f"converted {bag.name} into {reports[0].episode}")
            except Exception as e:
                self.get_logger().error(f"converting {bag} failed: {e}")

    def destroy_node(self) -> None:
        # Shut down mid-episode (Ctrl-C): keep what was recorded; nothing recorded is thrown away unasked.
        self._close(save=True)
        if self._converter is not None:
            self._conversions.put(None)
            self._converter.join(timeout=self.conversion_wait)
            if self._converter.is_alive():
                self.get_logger().warning(
                    f"bag conversion still running after {self.conversion_wait:.0f} s: it resumes when recorder_node "
                    f"next starts with dataset_dir {self.dataset_dir}")
        super().destroy_node()


def message_class(type_name: str) -> Any:
    """The Python class of `pkg/msg/Name` (what rosidl_runtime_py's get_message does; PyPI's wheels lack it)."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _saved_bag(path: Path) -> bool:
    """A bag that was closed (rosbag2 writes metadata.yaml on close) and saved (it carries the episode metadata)."""
    try:
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return any(t["topic_metadata"]["name"] == METADATA_TOPIC for t in info["topics_with_message_count"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return False


def main(args: list[str] | None = None) -> None:
    spin(RecorderNode, args)
