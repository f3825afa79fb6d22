"""Camera frames converted per second by `positronic-bag2dataset`, beside two baselines measured in the same run.

    .venv/bin/python bench/bag2dataset.py [--frames 450] [--cameras 2] [--width 320 --height 240] [--repeat 3]

Writes one synthetic episode bag (cameras at 15 Hz with joint states, poses, gripper, commands and sim observers, as
the recorder writes them), then times:

- read only: opening the bag and decoding every message of the converted topics into samples (the floor set by
  reading, without validation or writing);
- encode only: our H.264 VideoColumn encoding the same number of frames with no bag involved;
- validation alone (`validate_bags`), and the full conversion (`convert_bags`: a validation pass, then a second read
  that writes the episode). The figure that matters is the conversion's frames per second (target >= 500 at 320x240).

Each measurement is the best of `--repeat` runs, wall time and CPU time (this process, all threads) taken separately.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "support"))

from synthetic_bags import BagSpec, frame_rgb, write_episode_bag  # noqa: E402

from positronic_core.bags import convert_bags, topics, validate_bags  # noqa: E402
from positronic_core.bags.bag_reader import open_bag  # noqa: E402
from positronic_core.dataset.video import VideoColumn  # noqa: E402

TARGET_FPS = 500


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], Any], repeat: int = 1) -> tuple[Any, float, float]:
    """(last result, best wall seconds, best CPU seconds of this process) over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu_seconds() - cpu)
    return result, min(walls), min(cpus)


def read_only(bag: Path) -> int:
    frames = 0
    with open_bag(bag, "rosbags") as source:
        rules = {name: rule for name in source.topics if (rule := topics.rule_for(name)) is not None}
        for topic, _, raw in source.messages(rules):
            rule = rules[topic]
            for _, value in rule.samples(topics.decode(raw, rule.msgtype)):
                frames += rule.msgtype == topics.IMAGE and value.ndim == 3
    return frames


def encode_only(frames: int, pool: list[list[Any]], work: Path) -> None:
    columns = [VideoColumn(f"image.{c}", work / f"encode_{c}.mp4") for c in range(len(pool))]
    for step in range(frames):
        for camera, column in enumerate(columns):
            column.append(pool[camera][step % len(pool[camera])], step + 1)
    for camera, column in enumerate(columns):
        column.close(work / f"encode_{camera}.frames.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=450, help="frames per camera (450 = 30 s at 15 Hz)")
    parser.add_argument("--cameras", type=int, default=2, help="number of cameras")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage plugin")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = parser.parse_args()

    names = ["front", "wrist", "side", "top"][: args.cameras] + [f"cam{i}" for i in range(4, args.cameras)]
    cameras = {name: ("rgb8", "bgr8")[i % 2] for i, name in enumerate(names)}
    spec = BagSpec(steps=args.frames, storage=args.storage, cameras=cameras, width=args.width, height=args.height)
    total_frames = args.frames * args.cameras

    with tempfile.TemporaryDirectory(prefix="bag2dataset-bench-") as tmp:
        work = Path(tmp)
        bag = work / "episode_bag"
        _, written_s, _ = timed(lambda: write_episode_bag(bag, spec))
        size_mb = sum(p.stat().st_size for p in bag.iterdir()) / 2**20
        # Distinct frames rendered before the clock starts; cycling a short set keeps memory small.
        pool = [[frame_rgb(step, c, args.width, args.height) for step in range(30)] for c in range(args.cameras)]

        repeat = max(1, args.repeat)
        frames_read, *read = timed(lambda: read_only(bag), repeat)
        assert frames_read == total_frames, (frames_read, total_frames)
        _, *encode = timed(lambda: encode_only(args.frames, pool, work), repeat)
        _, *validate = timed(lambda: validate_bags([bag], progress=False, backend="rosbags"), repeat)
        # Each run appends one more episode to the same dataset, as repeated conversions would.
        dataset = work / "dataset"
        (report,), *convert = timed(lambda: convert_bags([bag], dataset, progress=False, backend="rosbags"), repeat)
        assert sum(report.frames.values()) == total_frames, report.frames

    load = os.getloadavg()[0]
    print(
        f"bag2dataset: {args.cameras} cameras x {args.frames} frames at {args.width}x{args.height} "
        f"({args.storage}, {size_mb:.0f} MiB, {report.messages} messages; bag written in {written_s:.1f} s)"
    )
    contended = " (other work is running: wall figures understate)" if load > 1.5 else ""
    print(f"  best of {repeat} runs each; load average {load:.1f} on {os.cpu_count()} CPUs{contended}")
    print(f"  {'':<44} {'wall':>14}  {'CPU per frame':>13}")
    rows = [
        ("baseline: read + decode only (rosbags)", read),
        ("baseline: H.264 encode only (VideoColumn)", encode),
        ("validation pass alone", validate),
        ("conversion (validate + write)", convert),
    ]
    for label, (wall_s, cpu_s) in rows:
        print(f"  {label:<44} {total_frames / wall_s:7.0f} frames/s  {cpu_s / total_frames * 1e3:10.2f} ms")
    fps = total_frames / convert[0]
    verdict = "meets" if fps >= TARGET_FPS else "misses"
    print(
        f"  conversion {verdict} the target of {TARGET_FPS} frames/s at 320x240: {fps:.0f} frames/s "
        f"({fps / (total_frames / encode[0]):.2f}x the encode-only baseline)"
    )


if __name__ == "__main__":
    main()
