"""Clip export: a time range of a recorded episode becomes a new episode of a chosen dataset.

Signals follow the step-function semantics (`positronic_core.dataset.signals`): the clip [start, end] keeps every
sample inside the range, and each signal (video frames included) also gets the value it held at `start`, stamped
at `start`, when its last sample before the range is older. Timestamps keep the source's clock, so a clip lines up
with its source. Video is decoded and re-encoded frame by frame through the dataset writer, so frames, frame
timestamps and every other signal are cut by the same rule.

Statics: the source's, minus its verdicts (`eval.*`, which judged the whole episode), plus the `clip.*` marks of
`runs.clips` naming the source dataset, episode (key and path) and range, so that no report or table counts the
clip as an evaluation run, whichever dataset it is written to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Episode
from positronic_core.dataset.signals import VideoSignal
from positronic_core.dataset.writer import DatasetWriter
from positronic_core.runs import clips

NEW_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_CLIP_S = 0.001


class ClipError(ValueError):
    """A clip that cannot be cut; the message says why."""


@dataclass(frozen=True)
class ClipResult:
    dataset_root: Path
    episode_id: int
    path: Path
    signals: int
    frames: dict[str, int]


def check_new_dataset_name(name: str) -> str:
    if not isinstance(name, str) or not NEW_DATASET_NAME.match(name) or ".." in name:
        raise ClipError(f"new dataset name {name!r} must be 1-64 letters, digits, '_', '-' or '.', start with a "
                        "letter or digit, and contain no '..'")
    if layout.parse_id(name) is not None:
        raise ClipError(f"new dataset name {name!r} would look like a block directory; pick another")
    return name


def export_clip(source: Episode, start_ns: int, end_ns: int, target_root: Path,
                source_info: dict[str, Any]) -> ClipResult:
    """Write source[start_ns, end_ns] (absolute ns) as a new episode under `target_root`."""
    if end_ns - start_ns < MIN_CLIP_S * 1e9:
        raise ClipError(f"clip end must be after its start (got {start_ns} .. {end_ns} ns)")
    writer = DatasetWriter(target_root)
    episode = writer.new_episode()
    frames: dict[str, int] = {}
    try:
        for name in source.signal_names:
            signal = source.signal(name)
            first, last = _range(signal.timestamps, start_ns, end_ns)
            if first is None:
                continue
            if isinstance(signal, VideoSignal):
                frames[name] = _copy_video(signal, first, last, start_ns, episode)
            else:
                values = signal.values
                for index in _kept(signal.timestamps, first, last):
                    ts = max(int(signal.timestamps[index]), start_ns)
                    episode.append(name, _sample(values[index]), ts)
        static = {k: v for k, v in source.static.items() if not k.startswith(("eval.", clips.PREFIX))}
        static |= clips.clip_statics(source_info.get("dataset", ""), source_info.get("key", ""),
                                     source_info.get("ref", ""), start_ns, end_ns, source_info.get("start_s", 0.0),
                                     source_info.get("end_s", 0.0))
        for key, value in static.items():
            episode.set_static(key, value)
        path = episode.finish()
    except BaseException:
        if episode.state == "recording" or episode.state == "failed":
            episode.abort()
        raise
    finally:
        source.close()
    return ClipResult(Path(target_root), episode.id, path, len(source.signal_names), frames)


def _range(timestamps: np.ndarray, start_ns: int, end_ns: int) -> tuple[int | None, int]:
    """Indices of the first and last sample the clip keeps: the one in effect at start, through the last <= end."""
    last = int(np.searchsorted(timestamps, end_ns, side="right")) - 1
    first = int(np.searchsorted(timestamps, start_ns, side="right")) - 1
    if last < 0:
        return None, -1
    return max(first, 0), last


def _kept(timestamps: np.ndarray, first: int, last: int) -> list[int]:
    """The samples in first..last a clip copies: of samples sharing a time (0.4.x's timelines allow that) only the
    last, the one a reader sees at that time; our writer wants strictly increasing times."""
    return [i for i in range(first, last + 1) if i == last or timestamps[i + 1] > timestamps[i]]


def _copy_video(signal: VideoSignal, first: int, last: int, start_ns: int, episode) -> int:
    count = 0
    for index in _kept(signal.timestamps, first, last):
        ts = max(int(signal.timestamps[index]), start_ns)
        episode.append(signal.name, signal.frame(index), ts)
        count += 1
    signal.close()
    return count


def _sample(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_range(duration_s: float, start_s: Any, end_s: Any) -> tuple[float, float]:
    """Validate a clip range in seconds from the episode's first sample."""
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ClipError(f"{name} must be a number of seconds, got {value!r}")
    if start_s < 0 or end_s > duration_s + 1e-6:
        raise ClipError(f"clip {start_s}..{end_s} s is outside the episode (0..{duration_s:.3f} s)")
    if end_s - start_s < MIN_CLIP_S:
        raise ClipError(f"clip end ({end_s} s) must be after its start ({start_s} s)")
    return float(start_s), float(end_s)

