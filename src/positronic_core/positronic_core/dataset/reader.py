"""Reading a Positronic dataset, ours or upstream's.

`Dataset(root)` lists the finished episodes under root in id order (directories still holding `.unfinished` are
skipped); the listing is taken when the Dataset is made. Episodes and signals load lazily: opening an episode reads
nothing, `static` and `meta` read their JSON file on first use, and videos are not opened until a frame or the
frame shape is asked for.

Upstream 0.4.x datasets read too: their version-2 signal files on the timeline `timeline` chooses (the harness's
world clock first), frame indexes without `ts_ns`, meta without `duration_ns` (`Episode.duration_ns` derives it),
and their edit logs (`edits`): a `Dataset` leaves out the episodes the logs drop and its episodes' `static` has
the logs' `set_static` edits merged in (`Dataset(root, apply_edits=False)` reads the recordings as they are).

Commands: we record `robot_commands.<x>` (0.2.x's name) and link `robot_command.<x>` (0.4.x's) to it; when an
episode has both, `signal_names` lists only `robot_commands.<x>` and the other name reads the same signal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.edits import EDITS_FILE, EditLogs, EpisodeEdits, episode_uid
from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.signals import ParquetSignal, Signal, VideoSignal
from positronic_core.dataset.statics import load_statics


def read_meta(path: Path) -> dict[str, Any]:
    """An episode directory's meta.json; {} if it has none, DatasetError if it is not a JSON object."""
    meta_path = path / layout.META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    except ValueError as exc:
        raise DatasetError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{meta_path} must hold a JSON object, found {type(meta).__name__}")
    return meta


class Episode:
    """One finished episode directory."""

    def __init__(self, path: Path, episode_id: int | None = None, edits: EpisodeEdits | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetError(f"episode directory {self.path} does not exist")
        if not layout.is_finished(self.path):
            raise DatasetError(f"episode {self.path} is unfinished (it still has {layout.UNFINISHED_MARKER})")
        parsed = layout.parse_id(self.path.name)
        self.id = episode_id if episode_id is not None else parsed if parsed is not None else -1
        self._static: dict[str, Any] | None = None
        self._meta: dict[str, Any] | None = None
        self._signals: dict[str, Signal] = {}
        self._edits = edits
        self._kinds = self._discover()
        self._aliases = {layout.upstream_command_name(name): name for name in self._kinds
                         if layout.upstream_command_name(name) in self._kinds}
        for alias in self._aliases:
            del self._kinds[alias]

    def _discover(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for entry in self.path.iterdir():
            name = entry.name
            if name.endswith(layout.FRAMES_SUFFIX):
                continue
            if name.endswith(layout.VIDEO_SUFFIX):
                signal = name[: -len(layout.VIDEO_SUFFIX)]
                if not layout.frames_file(self.path, signal).exists():
                    raise DatasetError(f"video {entry} has no frame index {layout.frames_file(self.path, signal).name}")
                kinds[signal] = "video"
            elif name.endswith(layout.SCALAR_SUFFIX):
                kinds.setdefault(name[: -len(layout.SCALAR_SUFFIX)], "parquet")
        return kinds

    def __repr__(self) -> str:
        return f"Episode(id={self.id}, path={str(self.path)!r})"

    @property
    def signal_names(self) -> list[str]:
        return sorted(self._kinds)

    @property
    def video_names(self) -> list[str]:
        return sorted(name for name, kind in self._kinds.items() if kind == "video")

    def __contains__(self, name: object) -> bool:
        return name in self._kinds or name in self._aliases

    def signal(self, name: str) -> Signal:
        """The signal `name` (a VideoSignal for cameras, a ParquetSignal otherwise); KeyError if absent."""
        name = self._aliases.get(name, name)
        if name not in self._signals:
            kind = self._kinds.get(name)
            if kind is None:
                raise KeyError(f"episode {self.id} has no signal {name!r}; it has {', '.join(self.signal_names)}")
            if kind == "video":
                self._signals[name] = VideoSignal(
                    name, layout.video_file(self.path, name), layout.frames_file(self.path, name)
                )
            else:
                self._signals[name] = ParquetSignal(name, layout.scalar_file(self.path, name))
        return self._signals[name]

    @property
    def static(self) -> dict[str, Any]:
        """The recorded statics with the edit logs' `set_static` edits merged in (when opened with edits)."""
        if self._edits is None:
            return self.recorded_static
        return self._edits.apply(self.recorded_static)

    @property
    def recorded_static(self) -> dict[str, Any]:
        """static.json as recorded, without edits."""
        if self._static is None:
            try:
                self._static = load_statics(self.path / layout.STATIC_FILE)
            except ValueError as exc:
                raise DatasetError(f"{self.path / layout.STATIC_FILE} is not valid JSON: {exc}") from exc
        return dict(self._static)

    @property
    def uid(self) -> str | None:
        """The identity edit logs name this episode by (`edits.episode_uid`)."""
        return episode_uid(self.meta)

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json as written (schema_version, created_ts_ns, writer, ...); empty if the file is missing."""
        if self._meta is None:
            self._meta = read_meta(self.path)
        return dict(self._meta)

    @property
    def start_ts_ns(self) -> int | None:
        """The first moment every signal has a value: the latest first sample. None without samples."""
        firsts = [s.start_ts_ns for s in map(self.signal, self._kinds)]
        known = [ts for ts in firsts if ts is not None]
        return max(known) if known else None

    @property
    def last_ts_ns(self) -> int | None:
        """The last sample of any signal. None without samples."""
        lasts = [s.last_ts_ns for s in map(self.signal, self._kinds)]
        known = [ts for ts in lasts if ts is not None]
        return max(known) if known else None

    @property
    def duration_ns(self) -> int:
        """`last_ts_ns - start_ts_ns` (upstream's definition); 0 for an episode without samples."""
        start, last = self.start_ts_ns, self.last_ts_ns
        return last - start if start is not None and last is not None else 0

    def close(self) -> None:
        """Release any video files this episode's signals opened."""
        for signal in self._signals.values():
            if isinstance(signal, VideoSignal):
                signal.close()


class Dataset:
    """The finished episodes under `root` the edit logs do not drop, sorted by id; `dataset[i]` is the i-th,
    `episode(id)` looks up by id."""

    def __init__(self, root: Path, apply_edits: bool = True) -> None:
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise DatasetError(f"dataset root {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"dataset root {self.root} is not a directory")
        finished = [(i, p) for i, p in layout.episode_dirs(self.root) if layout.is_finished(p)]
        self._edits: dict[int, EpisodeEdits] = {}
        if apply_edits:
            logs = EditLogs()
            shared = logs.shared([self.root])
            root_log = any(shared)
            for episode_id, path in finished:
                if root_log or (path / EDITS_FILE).exists():
                    self._edits[episode_id] = logs.edits(episode_uid(read_meta(path)), path, shared)
        self._episodes = [(i, p) for i, p in finished if not (i in self._edits and self._edits[i].dropped)]

    def _open(self, episode_id: int, path: Path) -> Episode:
        return Episode(path, episode_id, self._edits.get(episode_id))

    def __len__(self) -> int:
        return len(self._episodes)

    def __getitem__(self, index: int) -> Episode:
        return self._open(*self._episodes[index])

    def __iter__(self) -> Iterator[Episode]:
        for episode_id, path in self._episodes:
            yield self._open(episode_id, path)

    @property
    def ids(self) -> list[int]:
        return [episode_id for episode_id, _ in self._episodes]

    def episode(self, episode_id: int) -> Episode:
        for known_id, path in self._episodes:
            if known_id == episode_id:
                return self._open(episode_id, path)
        raise KeyError(f"no finished episode {episode_id} in {self.root}")

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, episodes={len(self)})"
