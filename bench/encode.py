"""Per-frame cost of recording camera frames, ours beside upstream's encoder settings, measured in the same run.

    .venv/bin/python bench/encode.py [--frames 150] [--cameras 3] [--width 320 --height 240]

The workload is the simulator's: cameras at 320x240 recorded at 15 Hz. Frames are synthetic renders (shaded
background, checkered floor, moving boxes), appended camera by camera as the recorder does. CPU time includes
encoder threads, which matter on a small machine that also runs the simulator.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from positronic_core.dataset.video import VideoColumn


def render(frame_index: int, camera: int, height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 90 + rows * 100 // height
    image[..., 1] = 110 + cols * 60 // width
    image[..., 2] = 160
    floor = rows > height // 2
    checker = ((rows // 12 + cols // 12 + camera) % 2 == 0) & floor
    image[checker] = (70, 70, 80)
    image[floor & ~checker] = (150, 150, 160)
    for box in range(3):
        x = int((width - 40) * (0.5 + 0.45 * np.sin(0.07 * frame_index + box * 2.1 + camera)))
        y = height // 2 + 10 + box * 15
        image[y : y + 24, x : x + 30] = ((200, 40, 40), (40, 180, 60), (50, 60, 210))[box]
    return image


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _UpstreamDefaults:
    """Upstream 0.2.1's VideoSignalWriter settings: codec 'h264' (libx264) at defaults, rate 100, GOP 30."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._container = None
        self._stream = None
        self._count = 0

    def append(self, frame: np.ndarray, ts_ns: int) -> None:
        del ts_ns
        if self._container is None:
            self._container = av.open(str(self._path), mode="w")
            self._stream = self._container.add_stream("h264", rate=100)
            self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
            self._stream.pix_fmt = "yuv420p"
            self._stream.gop_size = 30
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self._count
        self._count += 1
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()


def measure(label: str, make: Callable[[Path, int], tuple[Callable, Callable]], frames: list[list[np.ndarray]]) -> str:
    cameras = len(frames[0])
    with tempfile.TemporaryDirectory() as tmp:
        writers = [make(Path(tmp), camera) for camera in range(cameras)]
        per_call = []
        cpu_start = _cpu_seconds()
        for index, images in enumerate(frames):
            ts = 10**9 + index * 66_666_667
            for (append, _), image in zip(writers, images, strict=True):
                start = time.perf_counter()
                append(image, ts)
                per_call.append(time.perf_counter() - start)
        close_start = time.perf_counter()
        for _, close in writers:
            close()
        close_ms = (time.perf_counter() - close_start) * 1e3
        cpu_ms = (_cpu_seconds() - cpu_start) * 1e3 / (len(frames) * cameras)
        size = sum(p.stat().st_size for p in Path(tmp).glob("*.mp4")) / (len(frames) * cameras)
    ms = np.asarray(per_call) * 1e3
    return (
        f"{label:34s} {ms.mean():6.2f} {np.percentile(ms, 50):6.2f} {np.percentile(ms, 99):6.2f} {ms.max():6.2f}"
        f" {cpu_ms:7.2f} {close_ms:8.1f} {size / 1024:7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames per camera (150 = 10 s at 15 Hz)")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()

    frames = [[render(i, c, args.height, args.width) for c in range(args.cameras)] for i in range(args.frames)]
    # pyarrow imports pandas on its first array (about 0.3 s, once per process); keep that out of "close".
    pa.array([0])

    def ours(tmp: Path, camera: int) -> tuple[Callable, Callable]:
        column = VideoColumn(f"image.{camera}", tmp / f"ours{camera}.mp4")
        return column.append, lambda: column.close(tmp / f"ours{camera}.frames.parquet")

    def upstream(tmp: Path, camera: int) -> tuple[Callable, Callable]:
        writer = _UpstreamDefaults(tmp / f"upstream{camera}.mp4")
        return writer.append, writer.close

    print(f"{args.cameras} cameras x {args.frames} frames at {args.width}x{args.height}; ms per frame unless noted")
    print(f"{'':34s} {'mean':>6s} {'p50':>6s} {'p99':>6s} {'max':>6s} {'cpu':>7s} {'close ms':>8s} {'KiB/frm':>7s}")
    print(measure("baseline: upstream 0.2.1 settings", upstream, frames))
    print(measure("ours: veryfast zerolatency 1 thread", ours, frames))


if __name__ == "__main__":
    main()
