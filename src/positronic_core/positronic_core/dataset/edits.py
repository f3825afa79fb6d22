"""Edit logs (`edits.jsonl`): upstream 0.4.x's corrections over immutable recordings, applied when reading.

Each line is one JSON record naming an episode by its identity (`ep`, see `episode_uid`):

    {"op": "set_static", "v": 1, "ep": "<uid>", "data": {"eval.outcome": "Fail", ...}}   statics merged over the
                                                                                          recorded ones
    {"op": "drop", "v": 1, "ep": "<uid>"}      the episode leaves the view (its files stay on disk)
    {"op": "undrop", "v": 1, "ep": "<uid>"}    it comes back

Logs live in an episode's own directory and in directories above it (a dataset root, or a directory holding
several datasets). For one episode they apply in 0.4.1's order (`positronic.dataset.edits.EditedDataset` over
`load_all_datasets`): the dataset root's log, then the logs of the directories above it up to the directory being
read, then the episode's own log last; within a log, line order. For statics the last write of a key wins; for
dropping, the last drop or undrop wins.

0.4.1 refuses a whole dataset over one bad line; here a line that is not a valid record is skipped with a warning,
so one damaged log cannot hide a served directory. Logs are appended to, never rewritten (`append_edit`), in one
`write(2)` under an exclusive `flock`, like the score log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from positronic_core.dataset.statics import dump_statics, load_statics_text

EDITS_FILE = "edits.jsonl"
RECORD_VERSION = 1
OPS = ("set_static", "drop", "undrop")
Records = dict[str, list[dict[str, Any]]]  # one log's records by episode uid, each uid's in line order

_log = logging.getLogger(__name__)


def episode_uid(meta: dict[str, Any]) -> str | None:
    """The identity edit logs name an episode by: its meta `uid`, else `ts-<created_ts_ns>` (0.4.1's fallback for
    recordings made before uids, ours and 0.2.x's); None when the meta has neither."""
    uid = meta.get("uid")
    if isinstance(uid, str) and uid:
        return uid
    created = meta.get("created_ts_ns")
    if isinstance(created, int) and not isinstance(created, bool):
        return f"ts-{created}"
    return None


def log_dirs(dataset_root: Path, top: Path | None = None) -> list[Path]:
    """The directories whose logs apply to the episodes of `dataset_root` before their own, in application order:
    the root itself, then each directory above it up to `top` (the directory being read; default: the root)."""
    dataset_root = Path(dataset_root).resolve()
    dirs = [dataset_root]
    if top is not None:
        top = Path(top).resolve()
        if dataset_root.is_relative_to(top):
            for parent in dataset_root.parents:
                if not parent.is_relative_to(top):
                    break
                dirs.append(parent)
    return dirs


@dataclass
class EpisodeEdits:
    """What the logs say about one episode."""

    statics: dict[str, Any] = field(default_factory=dict)
    dropped: bool = False
    # The data of every set_static record that set `eval.outcome`, in application order.
    outcome_records: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, static: dict[str, Any]) -> dict[str, Any]:
        return {**static, **self.statics} if self.statics else dict(static)


def parse_record(line: str) -> dict[str, Any]:
    """One log line as a record; ValueError saying why it is not one."""
    record = load_statics_text(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if record.get("op") not in OPS or record.get("v") != RECORD_VERSION:
        raise ValueError(f"unsupported op {record.get('op')!r} or version {record.get('v')!r}")
    if not isinstance(record.get("ep"), str) or not record["ep"]:
        raise ValueError("'ep' must be a non-empty episode uid")
    if record["op"] == "set_static" and not isinstance(record.get("data"), dict):
        raise ValueError("set_static needs a 'data' object")
    return record


def read_log(path: Path) -> Records:
    """The records of the log at `path` by episode uid, each uid's in line order; {} when there is no log."""
    records: Records = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    except (OSError, UnicodeDecodeError) as exc:
        _log.warning("cannot read edit log %s: %s", path, exc)
        return records
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = parse_record(line)
        except ValueError as exc:
            _log.warning("%s:%d: skipping edit record: %s", path, number, exc)
            continue
        records.setdefault(record["ep"], []).append(record)
    return records


class EditLogs:
    """Edit logs read once and re-read when they change on disk (size or mtime); safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int] | None, Records]] = {}

    def records(self, directory: Path) -> Records:
        path = Path(directory) / EDITS_FILE
        try:
            stat = path.stat()
            stamp: tuple[int, int] | None = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        records = read_log(path) if stamp is not None else {}
        with self._lock:
            self._cache[path] = (stamp, records)
        return records

    def stamp(self, directory: Path) -> tuple[int, int] | None:
        """The size and mtime of a directory's log as last read, to tell whether it changed since."""
        with self._lock:
            cached = self._cache.get(Path(directory) / EDITS_FILE)
        return cached[0] if cached is not None else None

    def shared(self, dirs: list[Path]) -> list[Records]:
        """The logs of `dirs` (see `log_dirs`), read once for a pass over many episodes."""
        return [self.records(directory) for directory in dirs]

    def edits(self, uid: str | None, episode_dir: Path, shared: list[Records]) -> EpisodeEdits:
        """The edits for the episode `uid` in `episode_dir`: those of the `shared` logs, then its own log's."""
        result = EpisodeEdits()
        if uid is None:
            return result
        for records in [*shared, self.records(episode_dir)]:
            for record in records.get(uid, ()):
                if record["op"] == "set_static":
                    result.statics.update(record["data"])
                    if "eval.outcome" in record["data"]:
                        result.outcome_records.append(record["data"])
                else:
                    result.dropped = record["op"] == "drop"
        return result


def append_edit(directory: Path, op: str, uid: str, data: dict[str, Any] | None = None) -> None:
    """Append one record to `directory`'s log as a single locked write (the directory must exist)."""
    if op not in OPS:
        raise ValueError(f"unknown edit op {op!r}; known: {', '.join(OPS)}")
    record: dict[str, Any] = {"op": op, "v": RECORD_VERSION, "ep": uid}
    if op == "set_static":
        record["data"] = data or {}
    line = json.dumps(json.loads(dump_statics(record)), ensure_ascii=False, separators=(",", ":")) + "\n"
    path = Path(directory) / EDITS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            payload = line.encode("utf-8")
            if size:
                with open(path, "rb") as handle:
                    handle.seek(size - 1)
                    if handle.read(1) != b"\n":
                        payload = b"\n" + payload  # start after a line torn by a crashed writer
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
