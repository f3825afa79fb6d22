"""Clips: a time range of a recorded episode saved as an episode of its own, for dataset augmentation.

A clip is never an evaluation run, wherever it is written (even into the dataset it was cut from): its statics
name its source and range under `clip.*`, and readers of runs tell clips apart by `clip.source_episode`, give them
no recorded verdict and leave them out of success rates.
"""

from __future__ import annotations

from typing import Any

PREFIX = "clip."
SOURCE_DATASET = "clip.source_dataset"
SOURCE_EPISODE = "clip.source_episode"  # the source's score key (meta uid, else its path in its dataset)
SOURCE_PATH = "clip.source_path"  # the source as the review server listed it, relative to the served directory
START_TS_NS = "clip.start_ts_ns"
END_TS_NS = "clip.end_ts_ns"
START_S = "clip.start_s"  # seconds from the source's first sample
END_S = "clip.end_s"


def clip_statics(source_dataset: str, source_episode: str, source_path: str, start_ns: int, end_ns: int,
                 start_s: float, end_s: float) -> dict[str, Any]:
    """The `clip.*` statics of a clip of `source_path` covering [start, end]."""
    return {SOURCE_DATASET: source_dataset, SOURCE_EPISODE: source_episode, SOURCE_PATH: source_path,
            START_TS_NS: int(start_ns), END_TS_NS: int(end_ns), START_S: round(float(start_s), 6),
            END_S: round(float(end_s), 6)}


def is_clip(static: dict[str, Any]) -> bool:
    return isinstance(static.get(SOURCE_EPISODE), str)


def clip_label(static: dict[str, Any]) -> str:
    """"<source> 0.50–1.20 s" for a clip, "" for a recorded run."""
    if not is_clip(static):
        return ""
    source = static.get(SOURCE_PATH) or static[SOURCE_EPISODE] or "?"
    start, end = static.get(START_S), static.get(END_S)
    if _seconds(start) and _seconds(end):
        return f"{source} {start:.2f}–{end:.2f} s"
    return str(source)


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
