"""The statics that describe how an episode was run, named once for every runtime: the in-process simulator and the
ROS nodes (which publish them for the recorder) record the same keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def flatten(prefix: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Nested metadata as dotted static keys under `prefix`; values that are not JSON scalars become text."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
        elif isinstance(value, (list, tuple)):
            out[name] = [v if isinstance(v, (str, int, float, bool)) else str(v) for v in value]
        else:
            out[name] = str(value)
    return out


def policy_statics(policy_meta: Mapping[str, Any], policy_fps: float) -> dict[str, Any]:
    """`inference.policy.*` (type, host, model and server checkpoint ids, codec, ...) and the control rate."""
    return {**flatten("inference.policy", policy_meta), "inference.policy_fps": float(policy_fps)}


def simulation_statics(render_quality: str, camera_size: Sequence[int]) -> dict[str, Any]:
    return {"simulation.render_quality": render_quality, "simulation.camera_size": [int(v) for v in camera_size]}
