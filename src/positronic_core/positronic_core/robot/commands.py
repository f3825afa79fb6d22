"""Robot commands and actions, and their protocol-v1 wire form.

An action is one step of a policy's chunk: a robot command, a target grip (0 = open, 1 = closed) and, optionally,
the time in seconds relative to the start of its chunk at which it is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def finite_vector(value: Any, size: int, name: str) -> np.ndarray:
    """`value` as a float64 vector of `size` finite values, or ValueError naming `name`."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have {size} values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains a non-finite value: {arr.tolist()}")
    return arr


@dataclass(frozen=True)
class CartesianPosition:
    """Absolute end-effector target: translation (3) and a row-major 3x3 rotation (9)."""

    pose: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pose", finite_vector(self.pose, 12, "cartesian_pos pose"))

    @classmethod
    def checked(cls, pose: np.ndarray) -> CartesianPosition:
        """Without the check: for a decoder that has checked its whole chunk (finite float64 rows of 12) at once,
        where checking each row again would cost a server more than the decoding itself."""
        command = object.__new__(cls)
        object.__setattr__(command, "pose", pose)
        return command

    @property
    def translation(self) -> np.ndarray:
        return self.pose[:3]

    @property
    def rotation(self) -> np.ndarray:
        return self.pose[3:].reshape(3, 3)


@dataclass(frozen=True)
class JointPosition:
    positions: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", finite_vector(self.positions, 7, "joint_pos positions"))

    @classmethod
    def checked(cls, positions: np.ndarray) -> JointPosition:
        """Without the check (see `CartesianPosition.checked`): finite float64 (7,) positions."""
        command = object.__new__(cls)
        object.__setattr__(command, "positions", positions)
        return command


@dataclass(frozen=True)
class JointDelta:
    velocities: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "velocities", finite_vector(self.velocities, 7, "joint_delta velocities"))


@dataclass(frozen=True)
class Reset:
    pass


RobotCommand = CartesianPosition | JointPosition | JointDelta | Reset


@dataclass(frozen=True)
class Action:
    command: RobotCommand
    target_grip: float
    timestamp: float | None = None


def command_to_wire(command: RobotCommand) -> dict[str, Any]:
    """The command's protocol v1 map. Vectors stay float64 ndarrays: every upstream 0.2.x server sends them so,
    and upstream's `from_wire` reshapes `pose` as one (a list makes its harness raise)."""
    if isinstance(command, CartesianPosition):
        return {"type": "cartesian_pos", "pose": command.pose}
    if isinstance(command, JointPosition):
        return {"type": "joint_pos", "positions": command.positions}
    if isinstance(command, JointDelta):
        return {"type": "joint_delta", "velocities": command.velocities}
    if isinstance(command, Reset):
        return {"type": "reset"}
    raise TypeError(f"not a robot command: {command!r}")


def command_from_wire(data: Mapping[str, Any]) -> RobotCommand:
    # HEAD-era positronic servers wrap the command as {b'__cmd__': {...}}; accept both forms.
    if b"__cmd__" in data:
        data = data[b"__cmd__"]
    if not isinstance(data, Mapping) or "type" not in data:
        raise ValueError(f"robot_command must be a map with a 'type', got {data!r:.200}")
    kind = data["type"]
    try:
        if kind == "cartesian_pos":
            return CartesianPosition(np.asarray(data["pose"]))
        if kind == "joint_pos":
            return JointPosition(np.asarray(data["positions"]))
        if kind == "joint_delta":
            return JointDelta(np.asarray(data["velocities"]))
    except KeyError as e:
        raise ValueError(f"robot_command of type {kind!r} lacks {e.args[0]!r}") from None
    if kind == "reset":
        return Reset()
    raise ValueError(f"unknown robot_command type {kind!r}")


def action_to_wire(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"robot_command": command_to_wire(action.command), "target_grip": float(action.target_grip)}
    if action.timestamp is not None:
        out["timestamp"] = float(action.timestamp)
    return out


def action_from_wire(data: Mapping[str, Any]) -> Action:
    if not isinstance(data, Mapping):
        raise ValueError(f"an action must be a map, got {type(data).__name__}")
    if "robot_command" not in data:
        raise ValueError("action lacks 'robot_command'")
    grip = data.get("target_grip")
    if grip is None:
        raise ValueError("action lacks 'target_grip'")
    timestamp = data.get("timestamp")
    return Action(
        command=command_from_wire(data["robot_command"]),
        target_grip=float(grip),
        timestamp=None if timestamp is None else float(timestamp),
    )
