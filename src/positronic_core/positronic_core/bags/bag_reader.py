"""Opening a rosbag2 bag and streaming its raw messages, through rosbags or ROS 2's own rosbag2_py.

A bag is a directory holding metadata.yaml and its storage files (MCAP `.mcap` or SQLite `.db3`); a storage file
given on its own is read on its own, unless a metadata.yaml beside it makes its directory the bag.

Backends: `rosbags` (pure Python, needs no ROS) and `rosbag2_py` (ROS 2's reader: every storage plugin and
compression the installed ROS has). `auto` takes rosbag2_py when it imports (ROS sourced) and rosbags otherwise. Both
hand back CDR bytes and receive times; decoding happens in `topics`, so a conversion does not depend on the backend.

Before either backend opens a bag, its storage files are checked for the damage an interrupted recording leaves: an
MCAP file must end with its footer (a recorder that is killed never writes one), and a SQLite file must pass
SQLite's own `quick_check` (a file cut short reads as malformed). Readers differ in what they tolerate there, and a
bag that is silently read up to its damage would become a short episode that looks complete.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from positronic_core.bags.errors import BagError

BACKENDS = ("auto", "rosbags", "rosbag2_py")
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}

_MCAP_MAGIC = b"\x89MCAP0\r\n"
# Footer record: opcode 0x02, length 20 (summary start, summary offset start, summary crc), then the magic again.
_MCAP_FOOTER = b"\x02" + (20).to_bytes(8, "little")
_MCAP_TAIL = len(_MCAP_FOOTER) + 20 + len(_MCAP_MAGIC)


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str  # empty if the topic was recorded with more than one type
    count: int


def resolve_bag_path(path: Path) -> Path:
    """The bag `path` names: itself, or the directory of a storage file that sits beside a metadata.yaml."""
    path = Path(path)
    if not path.exists():
        raise BagError(path, "does not exist")
    if path.is_file() and (path.parent / "metadata.yaml").is_file():
        return path.parent
    return path


def storage_files(bag: Path) -> list[Path]:
    """The storage files of `bag` (a directory or a single file)."""
    if bag.is_file():
        if bag.suffix not in STORAGE_SUFFIXES:
            raise BagError(bag, f"is not a bag: expected a directory, or a {' or '.join(STORAGE_SUFFIXES)} file")
        return [bag]
    if not (bag / "metadata.yaml").is_file():
        raise BagError(
            bag,
            "has no metadata.yaml: not a rosbag2 bag, or its recording was never closed "
            "(`ros2 bag reindex` rebuilds metadata.yaml from intact storage files)",
        )
    files = sorted(p for p in bag.iterdir() if p.suffix in STORAGE_SUFFIXES and p.is_file())
    if not files and not any(p.name.endswith((".mcap.zstd", ".db3.zstd")) for p in bag.iterdir()):
        raise BagError(bag, "holds no .mcap or .db3 storage file")
    return files


def check_storage_file(bag: Path, path: Path) -> None:
    """Raise BagError if the storage file is truncated or corrupt (see the module docstring)."""
    kind = STORAGE_SUFFIXES.get(path.suffix)
    if kind == "mcap":
        _check_mcap(bag, path)
    elif kind == "sqlite3":
        _check_sqlite(bag, path)


def _check_mcap(bag: Path, path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(len(_MCAP_MAGIC))
        if head != _MCAP_MAGIC:
            raise BagError(bag, f"{path.name} is not an MCAP file (it does not start with the MCAP magic)")
        if size < len(_MCAP_MAGIC) + _MCAP_TAIL:
            tail = b""
        else:
            file.seek(-_MCAP_TAIL, 2)
            tail = file.read(_MCAP_TAIL)
    if not tail.startswith(_MCAP_FOOTER) or not tail.endswith(_MCAP_MAGIC):
        raise BagError(
            bag,
            f"{path.name} is truncated: it has no MCAP footer, so the recording was cut off before the bag was "
            "closed (`mcap recover` can salvage the messages it holds into a new file)",
        )


def _check_sqlite(bag: Path, path: Path) -> None:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BagError(bag, f"{path.name} is truncated or corrupt: SQLite says {exc}") from None
    problems = [row[0] for row in rows if row and row[0] != "ok"]
    if problems:
        raise BagError(bag, f"{path.name} is corrupt: SQLite quick_check reports {'; '.join(problems[:3])}")


def available_backend(requested: str = "auto") -> str:
    """The backend `requested` resolves to here; ValueError if it is unknown or cannot be imported."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown bag reader {requested!r}; choose one of {', '.join(BACKENDS)}")
    candidates = ("rosbag2_py", "rosbags") if requested == "auto" else (requested,)
    for name in candidates:
        try:
            __import__(name)
        except (ImportError, OSError):  # OSError: rosbag2_py found but its libraries are not (ROS half-sourced)
            continue
        return name
    if requested == "auto":
        raise ValueError("no bag reader: install rosbags (`pip install positronic_core[bags]`) or source ROS 2")
    hint = "source ROS 2's setup.bash" if requested == "rosbag2_py" else "pip install positronic_core[bags]"
    raise ValueError(f"bag reader {requested!r} is not importable here ({hint})")


class OpenBag:
    """A bag open for reading; `messages()` may be called more than once, each call reading from the start."""

    backend = ""

    def __init__(self, path: Path, files: list[Path]) -> None:
        self.path = path
        self.files = files
        self.storage = "/".join(sorted({STORAGE_SUFFIXES.get(p.suffix, p.suffix) for p in files})) or "compressed"
        self.topics: dict[str, TopicInfo] = {}
        self.custom_data: dict[str, str] = {}
        self.ros_distro = ""

    def messages(self, topics: Collection[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, receive time in ns, CDR bytes) for every message on `topics`, in receive-time order."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> OpenBag:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _RosbagsBag(OpenBag):
    backend = "rosbags"

    def __init__(self, path: Path, files: list[Path]) -> None:
        super().__init__(path, files)
        from rosbags.rosbag2 import Reader

        try:
            self._reader = Reader(path)
            self._reader.open()
        except Exception as exc:  # rosbags raises ReaderError, but also KeyError/ValueError on odd metadata
            raise BagError(path, f"cannot be opened: {exc}") from exc
        for name, info in self._reader.topics.items():
            self.topics[name] = TopicInfo(name, info.msgtype or "", info.msgcount)
        # rosbags keeps metadata.yaml's custom_data on its directory reader's metadata.
        custom = getattr(getattr(self._reader.storage, "metadata", None), "custom", None)
        self.custom_data = {str(k): str(v) for k, v in (custom or {}).items()}
        self.ros_distro = self._reader.ros_distro or ""

    def messages(self, topics: Collection[str]) -> Iterator[tuple[str, int, bytes]]:
        connections = [c for c in self._reader.connections if c.topic in topics]
        if not connections:  # rosbags reads every topic when given none
            return
        try:
            for connection, timestamp, raw in self._reader.messages(connections):
                yield connection.topic, timestamp, raw
        except Exception as exc:
            raise BagError(self.path, f"reading failed: {exc}") from exc

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()


class _Rosbag2PyBag(OpenBag):
    backend = "rosbag2_py"

    def __init__(self, path: Path, files: list[Path]) -> None:
        super().__init__(path, files)
        import rosbag2_py

        self._rosbag2_py = rosbag2_py
        self._storage_id = _storage_id(path, files)
        try:
            metadata = rosbag2_py.Info().read_metadata(str(path), self._storage_id)
            self._compressed = bool(metadata.compression_format)
            self._open_reader()  # fail here, not in the middle of a pass, if rosbag2 cannot read it
        except Exception as exc:  # pybind11 turns rosbag2's C++ exceptions into RuntimeError and kin
            raise BagError(path, f"cannot be opened by rosbag2_py: {exc}") from exc
        for info in metadata.topics_with_message_count:
            name, msgtype = info.topic_metadata.name, info.topic_metadata.type
            known = self.topics.get(name)
            if known is not None:
                msgtype = msgtype if known.msgtype == msgtype else ""
                self.topics[name] = TopicInfo(name, msgtype, known.count + info.message_count)
            else:
                self.topics[name] = TopicInfo(name, msgtype, info.message_count)
        self.custom_data = {str(k): str(v) for k, v in dict(metadata.custom_data).items()}
        self.ros_distro = metadata.ros_distro or ""

    def _open_reader(self) -> Any:
        rosbag2_py = self._rosbag2_py
        reader = rosbag2_py.SequentialCompressionReader() if self._compressed else rosbag2_py.SequentialReader()
        reader.open(
            rosbag2_py.StorageOptions(uri=str(self.path), storage_id=self._storage_id),
            rosbag2_py.ConverterOptions(input_serialization_format="cdr", output_serialization_format="cdr"),
        )
        return reader

    def messages(self, topics: Collection[str]) -> Iterator[tuple[str, int, bytes]]:
        wanted = sorted(set(topics) & set(self.topics))
        if not wanted:  # an empty filter means every topic to rosbag2
            return
        try:
            reader = self._open_reader()
            reader.set_filter(self._rosbag2_py.StorageFilter(topics=wanted))
            while reader.has_next():
                topic, raw, timestamp = reader.read_next()
                yield topic, int(timestamp), raw
        except Exception as exc:
            raise BagError(self.path, f"reading failed: {exc}") from exc


def _storage_id(bag: Path, files: list[Path]) -> str:
    """rosbag2's storage plugin name for the bag's files (`.mcap.zstd` counts as mcap), or "" if mixed/unknown."""
    names = [p.name for p in files] if files else [p.name for p in bag.iterdir()] if bag.is_dir() else [bag.name]
    kinds = {kind for suffix, kind in STORAGE_SUFFIXES.items() for name in names if suffix in name}
    return kinds.pop() if len(kinds) == 1 else ""


def open_bag(path: Path, backend: str = "auto") -> OpenBag:
    """Check `path`'s storage files, then open it with `backend` (see the module docstring); BagError if not."""
    bag = resolve_bag_path(path)
    files = storage_files(bag)
    for file in files:
        check_storage_file(bag, file)
    try:
        name = available_backend(backend)
    except ValueError as exc:
        raise BagError(bag, str(exc)) from None
    return _Rosbag2PyBag(bag, files) if name == "rosbag2_py" else _RosbagsBag(bag, files)
