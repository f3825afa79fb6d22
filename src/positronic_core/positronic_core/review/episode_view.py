"""What the episode page shows: a summary of an episode's signals, the plot panels, signal samples and the
mapping from recorded frame times to positions in the mp4 files.

Times sent to the page are seconds from the episode's first sample (the earliest first timestamp of any signal),
so every panel, video and the `?t=` link share one timeline. A browser's `currentTime` is not recording time
(upstream tags its videos at a nominal 100 fps, ours at the mean recorded rate, and neither carries the frames'
jitter): the page maps a recording time to a frame index through the frame timestamps, and the frame index to a
media time through `media_times` read from the file's packets here.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.reader import Episode
from positronic_core.dataset.signals import ParquetSignal, VideoSignal

MAX_POINTS = 20_000
MAX_PLOTTED_WIDTH = 16
QUAT = ["qw", "qx", "qy", "qz"]
XYZ = ["x", "y", "z"]

# (title, [(signal, component labels or None for scalars, dashed)], extras); missing signals are dropped.
PANELS: list[tuple[str, list[tuple[str, list[str] | None, bool]]]] = [
    ("Joint positions (rad): executed solid, commanded dashed",
     [("robot_state.q", [f"q{i}" for i in range(7)], False), ("robot_commands.joints", None, True),
      ("robot_command.joints", None, True)]),
    ("EE position (m): executed solid, commanded dashed",
     [("robot_state.ee_pose", XYZ, False), ("robot_commands.pose", XYZ, True), ("robot_command.pose", XYZ, True)]),
    ("EE orientation (wxyz, sign-aligned): executed solid, commanded dashed",
     [("robot_state.ee_pose", [""] * 3 + QUAT, False), ("robot_commands.pose", [""] * 3 + QUAT, True),
      ("robot_command.pose", [""] * 3 + QUAT, True)]),
    ("Grip (0 = open): executed solid, target dashed", [("grip", None, False), ("target_grip", None, True)]),
    ("Stacking score (success: >= 0.95 held 0.5 s)", [("stacking_success", None, False)]),
    ("Box distance (m)", [("box_distance", None, False)]),
    ("Joint velocities (rad/s)", [("robot_state.dq", [f"dq{i}" for i in range(7)], False)]),
]
TIMELINE_SIGNALS = ("inference.latency_ms", "inference.chunk_size", "inference.idle")


def describe(episode: Episode) -> dict[str, Any]:
    """Signals (name, kind, samples, width), videos, the time origin and span, and the plot layout."""
    signals = []
    t0: int | None = None
    t_end: int | None = None
    for name in episode.signal_names:
        signal = episode.signal(name)
        start, last = signal.start_ts_ns, signal.last_ts_ns
        if start is not None:
            t0 = start if t0 is None else min(t0, start)
            t_end = last if t_end is None else max(t_end, last)
        info: dict[str, Any] = {"name": name, "samples": len(signal)}
        if isinstance(signal, VideoSignal):
            info["kind"] = "video"
        else:
            values = signal.values
            info["kind"] = "text" if values.dtype == object else "number"
            info["width"] = int(values.shape[1]) if values.ndim == 2 else 1
        signals.append(info)
    t0 = t0 or 0
    widths = {s["name"]: s.get("width", 0) for s in signals if s["kind"] == "number"}
    return {"t0_ns": t0, "duration_s": ((t_end or t0) - t0) / 1e9, "signals": signals,
            "videos": [s["name"] for s in signals if s["kind"] == "video"], "panels": plot_panels(widths),
            "timeline": [name for name in TIMELINE_SIGNALS if name in widths]}


def plot_panels(widths: dict[str, int]) -> list[dict[str, Any]]:
    """The plot panels for an episode whose numeric signals have these widths; signals no panel names, up to
    MAX_PLOTTED_WIDTH wide, get a panel each, so any dataset (upstream's too) shows all it recorded."""
    panels = []
    used: set[str] = set(TIMELINE_SIGNALS)
    for title, entries in PANELS:
        series = []
        for name, labels, dashed in entries:
            width = widths.get(name)
            if width is None:
                continue
            used.add(name)
            names = labels if labels is not None else ([""] if width == 1 else [f"[{i}]" for i in range(width)])
            for component, label in enumerate(names[:width]):
                if label:
                    series.append({"signal": name, "component": component if width > 1 else None,
                                   "label": f"{name} {label}".strip() if width > 1 else name, "dashed": dashed})
                elif width == 1:
                    series.append({"signal": name, "component": None, "label": name, "dashed": dashed})
        if series:
            panels.append({"title": title, "series": series,
                           "threshold": 0.95 if title.startswith("Stacking") else None,
                           "quaternion_offset": 3 if title.startswith("EE orientation") else None})
    for name, width in sorted(widths.items()):
        if name in used or width > MAX_PLOTTED_WIDTH or width < 1:
            continue
        components = [None] if width == 1 else list(range(width))
        panels.append({"title": name, "threshold": None, "series": [
            {"signal": name, "component": c, "label": name if c is None else f"{name}[{c}]", "dashed": False}
            for c in components]})
    return panels


def signal_samples(episode: Episode, names: list[str], t0_ns: int) -> dict[str, Any]:
    """{name: {"t": seconds from t0, "v": values}} for numeric signals; long signals are thinned to MAX_POINTS
    samples (every k-th, keeping the last) so the page stays responsive."""
    out: dict[str, Any] = {}
    for name in names:
        signal = episode.signal(name)
        if not isinstance(signal, ParquetSignal):
            raise KeyError(f"{name!r} is a video, not a plottable signal")
        values = signal.values
        if values.dtype == object:
            out[name] = {"t": ((signal.timestamps - t0_ns) / 1e9).tolist(), "text": [str(v) for v in values]}
            continue
        timestamps = signal.timestamps
        if len(timestamps) > MAX_POINTS:
            keep = np.unique(np.append(np.arange(0, len(timestamps), -(-len(timestamps) // MAX_POINTS)),
                                       len(timestamps) - 1))
            timestamps, values = timestamps[keep], values[keep]
        numeric = values.astype(np.float64)
        numeric = np.where(np.isfinite(numeric), numeric, np.nan)
        out[name] = {"t": np.round((timestamps - t0_ns) / 1e9, 6).tolist(),
                     "v": [[None if np.isnan(x) else x for x in row] for row in numeric.tolist()]
                     if numeric.ndim == 2 else [None if np.isnan(x) else x for x in numeric.tolist()]}
    return out


def video_timing(episode: Episode, name: str, t0_ns: int) -> dict[str, Any]:
    """Frame times (seconds from t0) and where each frame sits in the mp4 (`media_times`, seconds)."""
    signal = episode.signal(name)
    if not isinstance(signal, VideoSignal):
        raise KeyError(f"{name!r} is not a video")
    frame_times = (signal.timestamps - t0_ns) / 1e9
    try:
        with av.open(str(signal.path)) as container:
            stream = container.streams.video[0]
            pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
            base = float(stream.time_base)
            start = stream.start_time or 0
            width, height = stream.codec_context.width, stream.codec_context.height
    except (OSError, av.FFmpegError, IndexError) as exc:
        raise DatasetError(f"cannot read video {signal.path}: {exc}") from exc
    count = min(len(pts), len(frame_times))
    media = [round((p - start) * base, 6) for p in pts[:count]]
    return {"name": name, "frame_times": np.round(frame_times[:count], 6).tolist(), "media_times": media,
            "width": width, "height": height}


def episode_duration_bounds(episode: Episode) -> tuple[int, int]:
    """(first, last) timestamp over every signal, in ns."""
    firsts, lasts = [], []
    for name in episode.signal_names:
        signal = episode.signal(name)
        if signal.start_ts_ns is not None:
            firsts.append(signal.start_ts_ns)
            lasts.append(signal.last_ts_ns)
    if not firsts:
        raise DatasetError(f"episode {episode.path} has no samples")
    return min(firsts), max(lasts)

