"""The control loop's inference timeline on `/policy/timeline`, so a bag of the episode converts into the same
`inference.*` signals an in-process recording has (`positronic_core.bags.topics`)."""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from std_msgs.msg import String

from positronic_core.dataset.sample_text import sample_to_json

TOPIC = "/policy/timeline"


class TimelinePublisher:
    """A `SampleSink` that publishes each sample as one JSON line; statics travel on `/policy/meta` instead."""

    def __init__(self, node: Node) -> None:
        # Deep enough for a burst (a reply's three samples and a tick's idle flag) while the recorder catches up.
        self._pub = node.create_publisher(String, TOPIC, 50)

    def append(self, name: str, value: Any, ts_ns: int) -> None:
        self._pub.publish(String(data=sample_to_json(name, value, ts_ns)))

    def set_static(self, key: str, value: Any) -> None:
        pass
