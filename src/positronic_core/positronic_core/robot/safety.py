"""Safety limits every command passes before it leaves for a live arm: joint position, joint velocity and a
Cartesian workspace box, read from a config file (`config/fr3_safety.yaml` for the Franka FR3).

Policy: **clip, never refuse silently**. A command that would cross a limit is moved onto it (a joint target into
its range less a margin, a step no faster than the allowed velocity from where the arm was last commanded, an
end-effector target into the workspace box) and each clipped command is reported, so the caller can log it and
record it. A command that cannot be made safe (a joint delta with no measured joints to add it to, a reset) is
refused: `limit` returns None and the arm holds.

Why clip rather than refuse: a learned policy's chunk that grazes a limit should keep the arm moving along the
limit instead of stopping dead mid-task; a policy far outside the limits gets its clipped command recorded at every
tick, which a reviewer sees on the episode's `safety.limited` signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, finite_vector


class SafetyConfigError(ValueError):
    """A safety config that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Limited:
    """The command that may be sent (None: refused, hold instead) and what was changed to make it safe."""

    action: Action | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SafetyLimits:
    joint_names: tuple[str, ...]
    joint_lower: np.ndarray
    joint_upper: np.ndarray
    joint_velocity: np.ndarray
    workspace_min: np.ndarray
    workspace_max: np.ndarray
    #: Radians kept free at each end of every joint's range.
    position_margin: float = 0.05
    #: Fraction of each joint's velocity limit a command may ask for.
    velocity_scale: float = 0.5
    #: Seconds after which joint states (or actions) count as stale and the arm holds.
    stale_after_s: float = 0.2

    def __post_init__(self) -> None:
        lo = self.joint_lower + self.position_margin
        hi = self.joint_upper - self.position_margin
        if np.any(lo >= hi):
            raise ValueError(f"position_margin {self.position_margin} leaves no room in a joint's range")
        if np.any(self.joint_velocity <= 0) or not 0 < self.velocity_scale <= 1:
            raise ValueError("joint velocities must be positive and velocity_scale in (0, 1]")
        if np.any(self.workspace_min >= self.workspace_max):
            raise ValueError("workspace min must be below max on every axis")
        if self.stale_after_s <= 0:
            raise ValueError("stale_after must be positive")

    @property
    def max_step_rate(self) -> np.ndarray:
        """Per joint, the fastest a command may move it (rad/s)."""
        return self.joint_velocity * self.velocity_scale

    def clip_positions(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.joint_lower + self.position_margin, self.joint_upper - self.position_margin)

    def clip_step(self, q: np.ndarray, q_from: np.ndarray, dt: float) -> np.ndarray:
        """`q` moved no further from `q_from` than the allowed velocity covers in `dt` seconds."""
        reach = self.max_step_rate * max(dt, 0.0)
        return np.clip(q, q_from - reach, q_from + reach)

    def limit_joints(self, q: np.ndarray, q_from: np.ndarray | None, dt: float) -> tuple[np.ndarray, list[str]]:
        """A joint target inside the position and velocity limits, and what was clipped (one note per kind)."""
        notes = []
        out = self.clip_positions(q)
        if not np.array_equal(out, q):
            notes.append(f"joint position clipped on {self._joints_changed(q, out)}")
        if q_from is not None:
            stepped = self.clip_step(out, np.asarray(q_from, dtype=np.float64), dt)
            if not np.array_equal(stepped, out):
                notes.append(f"joint velocity clipped on {self._joints_changed(out, stepped)}")
            out = stepped
        return out, notes

    def limit_trajectory(self, points: np.ndarray, times_s: np.ndarray, q_from: np.ndarray | None
                         ) -> tuple[np.ndarray, list[str]]:
        """A whole chunk of joint targets (N x 7, due at `times_s` from now) limited point by point: each point in
        range and reachable from the one before it (the first from `q_from`) at the allowed velocity."""
        out = np.array(points, dtype=np.float64, copy=True)
        notes: list[str] = []
        previous, t_prev = (None if q_from is None else np.asarray(q_from, dtype=np.float64)), 0.0
        for i, t in enumerate(np.asarray(times_s, dtype=np.float64)):
            out[i], point_notes = self.limit_joints(out[i], previous, float(t) - t_prev)
            notes += [n for n in point_notes if n not in notes]
            previous, t_prev = out[i], float(t)
        return out, notes

    def limit(self, action: Action, q_from: np.ndarray | None, dt: float) -> Limited:
        """`action` made safe to send `dt` seconds after the arm was at (or commanded to) `q_from`."""
        command = action.command
        if isinstance(command, JointDelta):
            if q_from is None:
                return Limited(None, ["joint delta refused: no measured joints to add it to"])
            command = JointPosition(np.asarray(q_from) + command.velocities)
        if isinstance(command, JointPosition):
            q, notes = self.limit_joints(command.positions, q_from, dt)
            return Limited(Action(JointPosition(q), action.target_grip, action.timestamp), notes)
        if isinstance(command, CartesianPosition):
            xyz = command.translation
            clipped = np.clip(xyz, self.workspace_min, self.workspace_max)
            if np.array_equal(clipped, xyz):
                return Limited(action)
            pose = np.concatenate([clipped, command.pose[3:]])
            note = f"end-effector target {np.round(xyz, 3).tolist()} clipped into the workspace"
            return Limited(Action(CartesianPosition(pose), action.target_grip, action.timestamp), [note])
        return Limited(None, [f"{type(command).__name__} refused on a live arm"])

    def _joints_changed(self, before: np.ndarray, after: np.ndarray) -> str:
        return ", ".join(name for name, a, b in zip(self.joint_names, before, after, strict=True) if a != b)


def limits_from_mapping(data: Mapping[str, Any], source: str = "safety config") -> SafetyLimits:
    """Limits from a parsed config (the layout of `config/fr3_safety.yaml`); SafetyConfigError names what is
    wrong."""
    try:
        joints = data["joints"]
        names = tuple(str(n) for n in joints["names"])
        size = len(names)
        workspace = data["workspace"]
        return SafetyLimits(
            joint_names=names,
            joint_lower=finite_vector(joints["lower"], size, "joints.lower"),
            joint_upper=finite_vector(joints["upper"], size, "joints.upper"),
            joint_velocity=finite_vector(joints["velocity"], size, "joints.velocity"),
            workspace_min=finite_vector(workspace["min"], 3, "workspace.min"),
            workspace_max=finite_vector(workspace["max"], 3, "workspace.max"),
            position_margin=float(data.get("position_margin", 0.05)),
            velocity_scale=float(data.get("velocity_scale", 0.5)),
            stale_after_s=float(data.get("stale_after", 0.2)))
    except KeyError as e:
        raise SafetyConfigError(f"{source}: missing entry {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise SafetyConfigError(f"{source}: {e}") from None


def load_limits(path: str | Path) -> SafetyLimits:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise SafetyConfigError(f"cannot read safety config {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise SafetyConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, Mapping):
        raise SafetyConfigError(f"{path}: expected a mapping at the top level")
    return limits_from_mapping(data, str(path))
