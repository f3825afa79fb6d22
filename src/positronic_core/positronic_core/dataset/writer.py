"""Recording episodes into a Positronic dataset directory.

Lifecycle of an episode, and what a crash at any point leaves behind:

- `DatasetWriter.new_episode()` creates `<root>/<block>/<id>/` with `.unfinished` in it, id one past the highest
  episode directory already there (finished or not, ours or upstream's), so datasets grow by appending.
- `append()` encodes video frames as they arrive (the mp4 on disk grows) and keeps other samples in memory.
- `finish()` completes the mp4s and writes the parquet files, `static.json` and `meta.json`, flushes them to disk,
  and removes `.unfinished` last. Each command signal `robot_commands.<x>` (the name 0.2.x's codecs read) also
  gets the name `robot_command.<x>` (0.4.x's), a hard link to the same file, so either version trains on our
  recordings as they are; our reader lists the pair once. Only then do readers (ours and upstream's) see the episode.
- `abort()` deletes the episode directory: a reset without saving leaves nothing.

A killed process (SIGKILL, power loss before `finish` returns) leaves the directory with `.unfinished`, which
readers skip and the next writer numbers past. Used as a context manager, a clean exit finishes the episode; an
exception closes what was recorded (so it can be inspected by hand) but keeps `.unfinished`, exactly as a crash
would, rather than deleting it or publishing a truncated episode as if it were complete.

An `EpisodeWriter` is not thread-safe: call it from one thread.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
import uuid
from functools import cache
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.durable import fsync_dir, fsync_file
from positronic_core.dataset.errors import DatasetError, InvalidSampleError
from positronic_core.dataset.scalars import ScalarColumn
from positronic_core.dataset.statics import dump_statics, normalize_static
from positronic_core.dataset.video import VideoColumn, is_image

WRITER_NAME = "positronic_core.dataset.EpisodeWriter"
# Hours of recording: three 320x240 cameras at 15 Hz plus state measured about 25 KB/s of disk (30 s episodes of
# the encode bench's renders, 0.7 MB each). A run should refuse to start rather than be what fills the disk.
DEFAULT_MIN_FREE_BYTES = 512 * 1024 * 1024

_log = logging.getLogger(__name__)


class DatasetWriter:
    """Appends episodes to the dataset at `root`. Constructing it touches nothing on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()

    def preflight(self, min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> None:
        """Check, before a run starts, that episodes can be written here; raise DatasetError saying why not.

        Proves the root (or, while it does not exist yet, the nearest existing directory above it) writable by
        creating and deleting a file, and checks that at least `min_free_bytes` are free on its filesystem. The
        root itself is created with the first episode, so a run that records nothing leaves no empty dataset.
        """
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"dataset root {self.root} exists but is not a directory")
        probe = self.root
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise DatasetError(f"cannot create dataset root {self.root}: {probe} is not a directory")
        try:
            with tempfile.TemporaryFile(dir=probe, prefix=".preflight-"):
                pass
        except OSError as exc:
            what = "dataset root" if probe == self.root else f"cannot create dataset root {self.root}:"
            raise DatasetError(f"{what} {probe} is not writable: {exc.strerror or exc}") from exc
        free = shutil.disk_usage(probe).free
        if free < min_free_bytes:
            raise DatasetError(
                f"disk nearly full: {free / 2**20:.0f} MiB free at {probe}, "
                f"recording needs at least {min_free_bytes / 2**20:.0f} MiB"
            )

    def next_episode_id(self) -> int:
        """One past the highest episode directory under root (finished or not); 0 for a new dataset."""
        existing = layout.episode_dirs(self.root)
        return existing[-1][0] + 1 if existing else 0

    def new_episode(self) -> EpisodeWriter:
        """Create the next episode's directory (marked unfinished) and return its writer."""
        episode_id = self.next_episode_id()
        while True:
            path = layout.episode_dir(self.root, episode_id)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.mkdir()
            except FileExistsError:
                # Another writer claimed this id between our scan and mkdir.
                episode_id += 1
                continue
            except OSError as exc:
                raise DatasetError(f"cannot create episode directory {path}: {exc.strerror or exc}") from exc
            return EpisodeWriter(episode_id, path)


class EpisodeWriter:
    """Records one episode; see the module docstring for its lifecycle. Made by `DatasetWriter.new_episode()`."""

    def __init__(self, episode_id: int, path: Path) -> None:
        self.id = episode_id
        self.path = path
        self.created_ts_ns = time.time_ns()
        self.uid = uuid.uuid4().hex
        self._columns: dict[str, ScalarColumn | VideoColumn] = {}
        self._statics: dict[str, Any] = {}
        self._state = "recording"
        marker = path / layout.UNFINISHED_MARKER
        marker.write_text(f"recording since {self.created_ts_ns} ns by pid {os.getpid()}\n", encoding="utf-8")

    def __repr__(self) -> str:
        return f"EpisodeWriter(id={self.id}, path={str(self.path)!r}, state={self._state})"

    @property
    def state(self) -> str:
        """One of recording, finished, aborted, or failed (closed after an error and left unfinished)."""
        return self._state

    @property
    def signal_names(self) -> list[str]:
        return sorted(self._columns)

    def _require_recording(self, action: str) -> None:
        if self._state != "recording":
            raise DatasetError(f"cannot {action}: episode {self.id} at {self.path} is {self._state}")

    def append(self, name: str, value: Any, ts_ns: int) -> None:
        """Record `value` for signal `name` at `ts_ns` (int ns, strictly increasing per signal).

        The first sample decides the signal's kind: a uint8 (H, W, 3) array makes it a video, anything else a
        parquet signal (see `positronic_core.dataset.scalars` for what is accepted).
        """
        self._require_recording(f"append to {name!r}")
        column = self._columns.get(name)
        if column is None:
            try:
                layout.check_signal_name(name)
            except ValueError as exc:
                raise InvalidSampleError(str(exc)) from None
            if name in self._statics:
                raise InvalidSampleError(f"{name!r} is already a static of this episode; it cannot also be a signal")
            if is_image(value):
                column = VideoColumn(name, layout.video_file(self.path, name))
            else:
                column = ScalarColumn(name)
            column.append(value, ts_ns)
            self._columns[name] = column
            return
        if isinstance(column, ScalarColumn) and is_image(value):
            raise InvalidSampleError(
                f"signal {name!r} started as a non-image signal; a uint8 (H, W, 3) image cannot join it"
            )
        column.append(value, ts_ns)

    def set_static(self, key: str, value: Any) -> None:
        """Store a per-episode value in static.json. Setting a key twice, or a signal's name, raises."""
        self._require_recording(f"set static {key!r}")
        if not isinstance(key, str) or not key:
            raise InvalidSampleError(f"static key must be a non-empty string, got {key!r}")
        if key in self._statics:
            raise InvalidSampleError(f"static {key!r} is already set for this episode")
        if key in self._columns:
            raise InvalidSampleError(f"{key!r} is already a signal of this episode; it cannot also be a static")
        self._statics[key] = normalize_static(key, value)

    @property
    def meta(self) -> dict[str, Any]:
        """What meta.json will hold (duration_ns is added at finish)."""
        return {
            "schema_version": layout.SCHEMA_VERSION,
            "created_ts_ns": self.created_ts_ns,
            "writer": {"name": WRITER_NAME, **_environment()},
            "path": str(self.path.resolve()),
            "uid": self.uid,
        }

    def finish(self) -> Path:
        """Write everything, then remove `.unfinished`; returns the episode directory."""
        self._require_recording("finish")
        try:
            self._write_files()
        except BaseException:
            self._state = "failed"
            raise
        (self.path / layout.UNFINISHED_MARKER).unlink()
        fsync_dir(self.path)
        self._state = "finished"
        return self.path

    def abort(self) -> None:
        """Delete the episode directory and everything in it. Also cleans up after a failed finish."""
        if self._state == "finished":
            raise DatasetError(f"cannot abort episode {self.id}: it is already finished at {self.path}")
        if self._state == "aborted":
            return
        for column in self._columns.values():
            if isinstance(column, VideoColumn):
                column.discard()
        shutil.rmtree(self.path, ignore_errors=True)
        self._state = "aborted"

    def _write_files(self) -> None:
        written: list[Path] = []
        first_ts: list[int] = []
        last_ts: list[int] = []
        for name, column in self._columns.items():
            if isinstance(column, VideoColumn):
                frames = layout.frames_file(self.path, name)
                column.close(frames)
                written += [column.video_path, frames]
            else:
                target = layout.scalar_file(self.path, name)
                column.write(target)
                written.append(target)
                alias = layout.upstream_command_name(name)
                if alias is not None and alias not in self._columns:
                    written.append(_link(target, layout.scalar_file(self.path, alias)))
            if column.first_ts_ns is not None and column.last_ts_ns is not None:
                first_ts.append(column.first_ts_ns)
                last_ts.append(column.last_ts_ns)
        statics = self.path / layout.STATIC_FILE
        statics.write_text(dump_statics(self._statics), encoding="utf-8")
        written.append(statics)
        meta = self.meta
        # Upstream's definition: from the moment every signal has a value to the last sample of any signal.
        meta["duration_ns"] = max(last_ts) - max(first_ts) if first_ts else 0
        meta_file = self.path / layout.META_FILE
        meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        written.append(meta_file)
        for path in written:
            fsync_file(path)

    def close_unfinished(self) -> None:
        """Close what was recorded so it is inspectable, but keep `.unfinished`: readers go on skipping it."""
        if self._state != "recording":
            return
        self._state = "failed"
        try:
            self._write_files()
        except Exception as exc:  # the episode is already lost; keep the caller's exception in front
            _log.warning("could not close unfinished episode %s: %s", self.path, exc)

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._state != "recording":
            return
        if exc_type is None:
            self.finish()
        else:
            self.close_unfinished()


@cache
def _link(target: Path, alias: Path) -> Path:
    """`alias` as a second name of `target`: a hard link (no extra disk; copies of the dataset get two plain
    files), or a copy where the filesystem has no hard links."""
    try:
        os.link(target, alias)
    except OSError:
        shutil.copyfile(target, alias)
    return alias


def _environment() -> dict[str, str]:
    try:
        version = metadata.version("positronic_core")
    except metadata.PackageNotFoundError:
        version = ""
    return {"version": version, "python": platform.python_version(), "platform": platform.platform()}
