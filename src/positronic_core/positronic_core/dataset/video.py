"""Camera signals as H.264 video: incremental encoding while recording, random-access decoding when reading.

Encoder: libx264 (PyAV's wheels ship it, and upstream's `codec='h264'` resolves to it too), yuv420p, a keyframe
every 30 frames. Frame timestamps live in the `<name>.frames.parquet` index; the video is tagged at the
recording's mean frame rate (frame count over the first-to-last span), so it plays at the speed it was recorded
at in any player. Frame i is at pts i on that constant-rate clock, because upstream's reader turns pts into a
frame index through the stream's rate: true per-frame times would shift that index wherever frames jitter.
Upstream itself tags every video at a nominal 100 fps whatever was recorded; its reader copes with any rate.

The rate is known only once the recording ends, but frames are encoded as they arrive, at `EXPECTED_FPS`; when
the recording's rate differs, `close` rewrites the timing of the finished file: packets are copied, not
re-encoded (26-36 ms for a 15 s 320x240 camera, measured on two busy cores).

Settings are `preset=veryfast, tune=zerolatency` on one thread. At 320x240 (measured by
`bench/encode.py`) a frame costs about 0.8 ms of CPU, rgb->yuv conversion included, against
1.8 ms for upstream's defaults (medium preset, frame threads); on high-motion content 1.4 ms against 4.5 ms.
Without B-frames or lookahead nothing queues inside the encoder, so closing a video takes about 2 ms instead of
60-100 ms. The encoder copies each frame before returning, so callers may reuse their image buffers.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from positronic_core.dataset.errors import DatasetError, InvalidSampleError
from positronic_core.dataset.scalars import TimestampedColumn, check_timestamp
from positronic_core.dataset.timeline import FRAMES_TIME_COLUMN, read_times

H264_ENCODER = "libx264"
ENCODER_OPTIONS = {"preset": "veryfast", "tune": "zerolatency"}
# The project's camera and policy rate (ARCHITECTURE §5): recordings at this rate need no retiming.
EXPECTED_FPS = 15
GOP_SIZE = 30
# A seek lands on the keyframe up to GOP_SIZE - 1 frames before its target, so for a target at most a GOP ahead
# decoding on from the current position never does more work than seeking.
_SEEK_AHEAD_FRAMES = GOP_SIZE


def is_image(value: Any) -> bool:
    """Whether a first sample makes its signal a video: a uint8 (H, W, 3) array."""
    return isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 3 and value.shape[2] == 3


class VideoColumn(TimestampedColumn):
    """One camera signal being recorded: frames go to the encoder as they arrive, timestamps to memory."""

    def __init__(self, name: str, video_path: Path) -> None:
        super().__init__(name)
        self.video_path = video_path
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None

    def append(self, frame: Any, ts_ns: int) -> None:
        ts = check_timestamp(self.name, ts_ns, self.last_ts_ns)
        self._check_frame(frame)
        if self._container is None:
            self._open(frame.shape[0], frame.shape[1])
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        video_frame.pts = len(self._timestamps)
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self._timestamps.append(ts)

    def _check_frame(self, frame: Any) -> None:
        if not is_image(frame):
            got = type(frame).__name__
            if isinstance(frame, np.ndarray):
                got = f"a {frame.dtype} array of shape {frame.shape}"
            raise InvalidSampleError(f"signal {self.name!r} is a video and takes uint8 (H, W, 3) frames, got {got}")
        height, width = frame.shape[:2]
        if self._size is None and (height % 2 or width % 2):
            raise InvalidSampleError(
                f"signal {self.name!r}: yuv420p H.264 needs an even width and height, got {width}x{height}"
            )
        if self._size is not None and (height, width) != self._size:
            first_height, first_width = self._size
            raise InvalidSampleError(
                f"signal {self.name!r}: frame is {width}x{height}, but earlier frames are {first_width}x{first_height}"
            )

    def _open(self, height: int, width: int) -> None:
        self._container = av.open(str(self.video_path), mode="w")
        stream = self._container.add_stream(H264_ENCODER, rate=EXPECTED_FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.gop_size = GOP_SIZE
        stream.options = dict(ENCODER_OPTIONS)
        # One thread: three cameras already encode in parallel with the simulator on a small machine, and
        # libx264's frame threads would buffer frames inside the encoder.
        stream.thread_count = 1
        self._stream = stream
        self._size = (height, width)

    def close(self, frames_path: Path) -> None:
        """Flush the encoder, finish the mp4 and write the frame index."""
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            rate = recording_rate(self._timestamps)
            if rate is not None and rate != EXPECTED_FPS:
                _retime(self.video_path, rate)
        timestamps = pa.array(np.asarray(self._timestamps, dtype=np.int64), type=pa.int64())
        pq.write_table(pa.table({"ts_ns": timestamps}), frames_path)

    def discard(self) -> None:
        """Drop the encoder without finishing the file (the caller deletes the directory)."""
        if self._container is not None:
            try:
                self._container.close()
            except (OSError, av.FFmpegError):
                pass
            self._container = None


def recording_rate(timestamps_ns: Sequence[int]) -> Fraction | None:
    """Frames per second over the recording's span, as a fraction with a small denominator (so 66,666,667 ns
    steps give exactly 15 and NTSC's 33,366,667 give 30000/1001); None for fewer than two frames."""
    if len(timestamps_ns) < 2:
        return None
    return Fraction((len(timestamps_ns) - 1) * 10**9, timestamps_ns[-1] - timestamps_ns[0]).limit_denominator(1001)


def _retime(path: Path, rate: Fraction) -> None:
    """Re-tag the finished video `path` at `rate` frames per second: frame i at pts i, pictures untouched."""
    retimed = path.with_name(f".{path.name}.retiming")
    time_base = 1 / rate
    with av.open(str(path)) as source, av.open(str(retimed), mode="w", format="mp4") as target:
        source_stream = source.streams.video[0]
        stream = target.add_stream_from_template(source_stream)
        stream.time_base = time_base
        for packet in source.demux(source_stream):
            if packet.dts is None:  # the demuxer's closing empty packet
                continue
            packet.pts = round(packet.pts * packet.time_base * EXPECTED_FPS)
            packet.dts = round(packet.dts * packet.time_base * EXPECTED_FPS)
            packet.duration = 1
            packet.time_base = time_base
            packet.stream = stream
            target.mux(packet)
    os.replace(retimed, path)


def read_frame_timestamps(frames_path: Path) -> np.ndarray:
    """Frame times: `ts_ns` in our indexes and 0.2.x's, the chosen `ts.<timeline>` in 0.4.x's (see `timeline`)."""
    return read_times(frames_path, FRAMES_TIME_COLUMN)[0]


class VideoDecoder:
    """Random access to the frames of one mp4; opens the file on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._container: Any = None
        self._stream: Any = None
        self._pts: np.ndarray | None = None
        self._frames: Iterator[Any] | None = None
        self._position: int | None = None
        self._last: tuple[int, np.ndarray] | None = None
        self._finalizer: weakref.finalize | None = None

    def _open(self) -> None:
        if self._container is not None:
            return
        try:
            container = av.open(str(self.path))
        except (OSError, av.FFmpegError) as exc:
            raise DatasetError(f"cannot open video {self.path}: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise DatasetError(f"{self.path} has no video stream")
        self._container = container
        self._stream = container.streams.video[0]
        self._finalizer = weakref.finalize(self, container.close)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        self._open()
        return (self._stream.codec_context.height, self._stream.codec_context.width, 3)

    def _presentation_pts(self) -> np.ndarray:
        # Packets carry every frame's pts; reading them without decoding maps frame index to pts for any
        # frame rate or B-frame layout.
        if self._pts is None:
            self._open()
            pts = [packet.pts for packet in self._container.demux(self._stream) if packet.pts is not None]
            self._pts = np.sort(np.asarray(pts, dtype=np.int64))
            self._frames = None
            self._position = None
        return self._pts

    def frame_count(self) -> int:
        return len(self._presentation_pts())

    def frame(self, index: int) -> np.ndarray:
        pts = self._presentation_pts()
        self._open()
        if not 0 <= index < len(pts):
            raise IndexError(f"frame {index} is outside {self.path} ({len(pts)} frames)")
        if self._last is not None and self._last[0] == index:
            return self._last[1].copy()
        target = int(pts[index])
        if self._frames is None or self._position is None or not 0 < index - self._position <= _SEEK_AHEAD_FRAMES:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
            self._frames = self._container.decode(self._stream)
        for decoded in self._frames:
            if decoded.pts is None:
                continue
            self._position = int(np.searchsorted(pts, decoded.pts))
            if decoded.pts == target:
                image = decoded.to_ndarray(format="rgb24")
                self._last = (index, image)
                return image.copy()
            if decoded.pts > target:
                break
        self._frames = None
        raise DatasetError(f"{self.path}: frame {index} (pts {target}) could not be decoded")

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order, decoded from a separate handle so random access state is untouched."""
        with av.open(str(self.path)) as container:
            for decoded in container.decode(container.streams.video[0]):
                yield decoded.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._container = self._stream = self._frames = None
        self._position = None
        self._last = None
