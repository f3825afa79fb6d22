"""One episode's rosbag2 bag, written with rosbag2_py where the ROS 2 install has it, or with rosbags (pure Python,
from PyPI) where it does not, as with ROS 2 from PyPI's wheels. Either way the bag is the same rosbag2 directory
(MCAP or SQLite) that `ros2 bag` and `positronic-bag2dataset` read, holding messages as received (serialized CDR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class EpisodeBag(Protocol):
    path: Path
    messages: int

    def add_topic(self, name: str, type_name: str) -> None: ...

    def write(self, topic: str, data: bytes, stamp_ns: int) -> None: ...

    def close(self) -> None: ...


def jazzy_typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def register_installed(store: Any, type_name: str) -> None:
    """Teaches `store` a message type outside Jazzy's standard set from the `.msg` file its package installed."""
    from ament_index_python.packages import get_package_share_directory
    from rosbags.typesys import get_types_from_msg

    if type_name in store.types:
        return
    package, _, message = type_name.split("/")
    text = (Path(get_package_share_directory(package)) / "msg" / f"{message}.msg").read_text()
    store.register(get_types_from_msg(text, type_name))


def string_cdr(text: str) -> bytes:
    """A std_msgs/String as CDR bytes, for messages the recorder writes itself (the episode metadata).

    Not rclpy's serialize_message: under Fast DDS (PyPI's ROS 2 wheels) it appends a few stray bytes, which the
    converter rightly refuses as a size mismatch."""
    store = jazzy_typestore()
    return bytes(store.serialize_cdr(store.types["std_msgs/msg/String"](data=text), "std_msgs/msg/String"))


def open_episode_bag(path: Path, storage_id: str) -> EpisodeBag:
    try:
        import rosbag2_py  # noqa: F401
    except ImportError:
        return RosbagsBag(path, storage_id)
    return Rosbag2PyBag(path, storage_id)


class Rosbag2PyBag:
    def __init__(self, path: Path, storage_id: str) -> None:
        import rosbag2_py

        self._rosbag2_py = rosbag2_py
        self.path = path
        self.writer = rosbag2_py.SequentialWriter()
        self.writer.open(rosbag2_py.StorageOptions(uri=str(path), storage_id=storage_id),
                         rosbag2_py.ConverterOptions(input_serialization_format="cdr",
                                                     output_serialization_format="cdr"))
        self.topics: set[str] = set()
        self.messages = 0

    def add_topic(self, name: str, type_name: str) -> None:
        if name in self.topics:
            return
        try:  # Jazzy's TopicMetadata takes an id first; Humble's does not.
            metadata = self._rosbag2_py.TopicMetadata(id=0, name=name, type=type_name, serialization_format="cdr")
        except TypeError:
            metadata = self._rosbag2_py.TopicMetadata(name=name, type=type_name, serialization_format="cdr")
        self.writer.create_topic(metadata)
        self.topics.add(name)

    def write(self, topic: str, data: bytes, stamp_ns: int) -> None:
        self.writer.write(topic, data, stamp_ns)
        self.messages += 1

    def close(self) -> None:
        close = getattr(self.writer, "close", None)
        if close is not None:
            close()
        self.writer = None


class RosbagsBag:
    """rosbags needs each topic's message definition; types outside Jazzy's standard set (our own interfaces) are
    read from the `.msg` files their packages install."""

    def __init__(self, path: Path, storage_id: str) -> None:
        from rosbags.rosbag2 import Writer
        from rosbags.rosbag2.enums import StoragePlugin

        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage_id not in plugins:
            raise ValueError(f"storage {storage_id!r} is not one rosbags writes: use {' or '.join(plugins)}")
        self.path = path
        self.store = jazzy_typestore()
        # Version 9 is what Jazzy's rosbag2 writes.
        self.writer = Writer(path, version=9, storage_plugin=plugins[storage_id])
        self.writer.open()
        self.connections: dict[str, Any] = {}
        self.messages = 0

    def add_topic(self, name: str, type_name: str) -> None:
        if name in self.connections:
            return
        register_installed(self.store, type_name)
        self.connections[name] = self.writer.add_connection(name, type_name, typestore=self.store)

    def write(self, topic: str, data: bytes, stamp_ns: int) -> None:
        self.writer.write(self.connections[topic], stamp_ns, bytes(data))
        self.messages += 1

    def close(self) -> None:
        self.writer.close()
