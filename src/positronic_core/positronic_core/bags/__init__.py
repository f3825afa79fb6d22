"""Converting rosbag2 episode recordings into Positronic datasets, without ROS.

Under ROS the recorder writes one bag per episode (MCAP, or SQLite); `convert_bags` turns each into a new episode of
a dataset in the format `positronic_core.dataset` writes, so review, evaluation and training treat it like any other.
`topics` holds the topic -> signal table and the ROS -> Positronic conversions (joint order, quaternions x, y, z, w
-> w, x, y, z, BGR -> RGB), `episode_metadata` the statics, `bag_reader` the readers (rosbags, or rosbag2_py when
ROS 2 is sourced) and the checks for truncated bags, `convert` the two-pass validate-then-write conversion, and `cli`
the `positronic-bag2dataset` command. Reading bags needs the `bags` extra (rosbags).
"""

from positronic_core.bags.convert import convert_bags, validate_bags
from positronic_core.bags.errors import BagError, ConversionError
from positronic_core.bags.report import ConversionReport, SignalReport, SkippedTopic, TopicReport

__all__ = [
    "BagError",
    "ConversionError",
    "ConversionReport",
    "SignalReport",
    "SkippedTopic",
    "TopicReport",
    "convert_bags",
    "validate_bags",
]
