"""Reading a Positronic dataset, ours or upstream's.

`Dataset(root)` lists the finished episodes under root in id order (directories still holding `.unfinished` are
skipped); the listing is taken when the Dataset is made. Episodes and signals load lazily: opening an episode reads
nothing, `static` and `meta` read their JSON file on first use, and videos are not opened until a frame or the
frame shape is asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.signals import ParquetSignal, Signal, VideoSignal
from positronic_core.dataset.statics import load_statics


class Episode:
    """One finished episode directory."""

    def __init__(self, path: Path, episode_id: int | None = None) -> None:
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
        self._kinds = self._discover()

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
        return name in self._kinds

    def signal(self, name: str) -> Signal:
        """The signal `name` (a VideoSignal for cameras, a ParquetSignal otherwise); KeyError if absent."""
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
        if self._static is None:
            try:
                self._static = load_statics(self.path / layout.STATIC_FILE)
            except ValueError as exc:
                raise DatasetError(f"{self.path / layout.STATIC_FILE} is not valid JSON: {exc}") from exc
        return dict(self._static)

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json as written (schema_version, created_ts_ns, writer, ...); empty if the file is missing."""
        if self._meta is None:
            meta_path = self.path / layout.META_FILE
            try:
                self._meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
            except ValueError as exc:
                raise DatasetError(f"{meta_path} is not valid JSON: {exc}") from exc
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
    """The finished episodes under `root`, sorted by id; `dataset[i]` is the i-th, `episode(id)` looks up by id."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise DatasetError(f"dataset root {self.root} does not exist")
        if not self.root.is_dir():
            raise DatasetError(f"dataset root {self.root} is not a directory")
        self._episodes = [(i, p) for i, p in layout.episode_dirs(self.root) if layout.is_finished(p)]

    def __len__(self) -> int:
        return len(self._episodes)

    def __getitem__(self, index: int) -> Episode:
        episode_id, path = self._episodes[index]
        return Episode(path, episode_id)

    def __iter__(self) -> Iterator[Episode]:
        for episode_id, path in self._episodes:
            yield Episode(path, episode_id)

    @property
    def ids(self) -> list[int]:
        return [episode_id for episode_id, _ in self._episodes]

    def episode(self, episode_id: int) -> Episode:
        for known_id, path in self._episodes:
            if known_id == episode_id:
                return Episode(path, episode_id)
        raise KeyError(f"no finished episode {episode_id} in {self.root}")

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, episodes={len(self)})"
