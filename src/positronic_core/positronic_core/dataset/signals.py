"""Recorded signals as read back: step functions of time over their samples.

A signal has samples (timestamp_i, value_i) with strictly increasing int64 ns timestamps. Its value at time t is
the value of the last sample at or before t; before the first sample it has no value: `at(t)` raises KeyError and
`index_at(t)` returns None. After the last sample the last value holds.

Nothing touches the disk until asked: timestamps, values and video frames each load on first use, and a video
decodes only the frames requested.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from positronic_core.dataset.scalars import read_scalar_file
from positronic_core.dataset.timeline import SIGNAL_TIME_COLUMN, read_times
from positronic_core.dataset.video import VideoDecoder, read_frame_timestamps


class Signal:
    """Common interface of every signal; see the module docstring for the step-function semantics."""

    name: str

    @property
    def timestamps(self) -> np.ndarray:
        """Sample timestamps, int64 ns, strictly increasing."""
        raise NotImplementedError

    @property
    def values(self) -> Sequence[Any]:
        raise NotImplementedError

    def value(self, index: int) -> Any:
        """The value of sample `index`."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.timestamps)

    def __iter__(self) -> Iterator[Any]:
        for index in range(len(self)):
            yield self.value(index)

    @property
    def start_ts_ns(self) -> int | None:
        return int(self.timestamps[0]) if len(self) else None

    @property
    def last_ts_ns(self) -> int | None:
        return int(self.timestamps[-1]) if len(self) else None

    def index_at(self, ts_ns: int) -> int | None:
        """Index of the last sample at or before `ts_ns`, or None if `ts_ns` precedes the first sample."""
        index = int(np.searchsorted(self.timestamps, ts_ns, side="right")) - 1
        return index if index >= 0 else None

    def at(self, ts_ns: int) -> Any:
        """The signal's value at `ts_ns`: the last sample at or before it. KeyError before the first sample."""
        index = self.index_at(ts_ns)
        if index is None:
            first = self.start_ts_ns
            when = "it has no samples" if first is None else f"its first sample is at {first}"
            raise KeyError(f"signal {self.name!r} has no value at {ts_ns} ns: {when}")
        return self.value(index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ParquetSignal(Signal):
    """A scalar, vector or string signal stored in `<name>.parquet`."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        self._timestamps: np.ndarray | None = None
        self._values: np.ndarray | None = None

    @property
    def timestamps(self) -> np.ndarray:
        if self._timestamps is None:
            self._timestamps = read_times(self.path, SIGNAL_TIME_COLUMN)[0]
        return self._timestamps

    @property
    def values(self) -> np.ndarray:
        """All values: 1-D for scalars, (samples, length) for vectors, an object array for strings."""
        if self._values is None:
            self._timestamps, self._values = read_scalar_file(self.path)
        return self._values

    def value(self, index: int) -> Any:
        return self.values[index]


class VideoSignal(Signal):
    """A camera signal stored as `<name>.mp4` with frame timestamps in `<name>.frames.parquet`."""

    def __init__(self, name: str, video_path: Path, frames_path: Path) -> None:
        self.name = name
        self.path = video_path
        self.frames_path = frames_path
        self._timestamps: np.ndarray | None = None
        self._decoder = VideoDecoder(video_path)

    @property
    def timestamps(self) -> np.ndarray:
        if self._timestamps is None:
            self._timestamps = read_frame_timestamps(self.frames_path)
        return self._timestamps

    @property
    def values(self) -> VideoFrames:
        """A lazy sequence of frames: indexing decodes just that frame."""
        return VideoFrames(self)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, 3), read from the video header without decoding."""
        return self._decoder.frame_shape

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as a uint8 (H, W, 3) RGB array."""
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"frame {index} is outside signal {self.name!r} ({count} frames)")
        return self._decoder.frame(index)

    def value(self, index: int) -> np.ndarray:
        return self.frame(index)

    def frame_at(self, ts_ns: int) -> np.ndarray:
        """The frame shown at `ts_ns` (the last one at or before it); KeyError before the first frame."""
        return self.at(ts_ns)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order, decoded sequentially (much cheaper than indexing frame by frame)."""
        count = len(self)
        for index, image in enumerate(self._decoder):
            if index >= count:
                break
            yield image

    def close(self) -> None:
        """Release the open video file; it reopens if frames are asked for again."""
        self._decoder.close()


class VideoFrames(Sequence[np.ndarray]):
    """The frames of a video signal, decoded on access."""

    def __init__(self, signal: VideoSignal) -> None:
        self._signal = signal

    def __len__(self) -> int:
        return len(self._signal)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self._signal.frame(i) for i in range(*index.indices(len(self)))]
        return self._signal.frame(index)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self._signal)
