"""Action decoders: one model output vector <-> one `Action` (robot command + target grip).

`decode` turns a model's output into a command for the robot; `encode` is its inverse, used to build the training
targets a model learns from, so that both directions live in one object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from positronic_core.geometry import matrix_to_quat_wxyz, matrix_to_rot6d, quat_wxyz_to_matrices, rot6d_to_matrices
from positronic_core.robot.commands import Action, CartesianPosition, JointPosition, RobotCommand, finite_vector


class ActionDecoder(Protocol):
    #: Length of the model's action vector.
    dim: int
    #: Names of the vector's entries, in order (LeRobot dataset feature names).
    names: tuple[str, ...]

    def decode(self, vector: np.ndarray, observation: Mapping[str, Any]) -> tuple[RobotCommand, float]: ...

    def decode_chunk(self, rows: np.ndarray, observation: Mapping[str, Any]) -> list[tuple[RobotCommand, float]]:
        """`decode` of each row of a (T, dim) chunk, computed for all rows at once (a server decodes one chunk per
        request, and per-row numpy calls cost more than their arithmetic)."""
        ...

    def encode(self, action: Action) -> np.ndarray: ...


def _finite_rows(rows: np.ndarray, dim: int, name: str) -> np.ndarray:
    """(T, dim) float64 rows; for a non-finite value, the error `finite_vector` gives for the first row holding one."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != dim:
        raise ValueError(f"{name}s must be ({dim},) rows, got shape {rows.shape}")
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        finite_vector(rows[bad.argmax()], dim, name)
    return rows


@dataclass(frozen=True)
class AbsoluteEEPoseAction:
    """(x, y, z, qw, qx, qy, qz, grip) -> absolute `CartesianPosition` + target grip.

    The quaternion is normalised before it becomes a rotation matrix (a network does not output unit quaternions).
    The grip is passed through as the model predicts it (upstream does not clip it either).
    """

    dim: int = 8
    names: tuple[str, ...] = ("x", "y", "z", "qw", "qx", "qy", "qz", "grip")

    def decode(self, vector: np.ndarray, observation: Mapping[str, Any]) -> tuple[RobotCommand, float]:
        return self.decode_chunk(finite_vector(vector, self.dim, "end-effector pose action")[None], observation)[0]

    def decode_chunk(self, rows: np.ndarray, observation: Mapping[str, Any]) -> list[tuple[RobotCommand, float]]:
        rows = _finite_rows(rows, self.dim, "end-effector pose action")
        quats = rows[:, 3:7]
        zero = (quats * quats).sum(axis=1) < 1e-12
        if zero.any():
            raise ValueError(f"end-effector pose action has a zero quaternion: {quats[zero.argmax()].tolist()}")
        poses = np.empty((len(rows), 12))
        poses[:, :3] = rows[:, :3]
        poses[:, 3:] = quat_wxyz_to_matrices(quats).reshape(-1, 9)  # normalises the quaternions
        return [(CartesianPosition.checked(pose), grip) for pose, grip in zip(poses, rows[:, 7].tolist(), strict=True)]

    def encode(self, action: Action) -> np.ndarray:
        if not isinstance(action.command, CartesianPosition):
            raise TypeError(f"an end-effector pose codec encodes cartesian_pos commands, got {action.command!r}")
        quat = matrix_to_quat_wxyz(action.command.rotation)
        return np.concatenate([action.command.translation, quat, [action.target_grip]]).astype(np.float32)


@dataclass(frozen=True)
class AbsoluteEEPoseRot6dAction:
    """(x, y, z, 6D rotation, grip) -> absolute `CartesianPosition` + target grip (GR00T's `ee_rot6d*` variants).

    The 6D rotation is the rotation matrix's first two rows; decoding orthonormalises it (see `geometry`).
    """

    dim: int = 10
    names: tuple[str, ...] = ("x", "y", "z", "r11", "r12", "r13", "r21", "r22", "r23", "grip")

    def decode(self, vector: np.ndarray, observation: Mapping[str, Any]) -> tuple[RobotCommand, float]:
        vector = finite_vector(vector, self.dim, "end-effector pose (6D rotation) action")
        return self.decode_chunk(vector[None], observation)[0]

    def decode_chunk(self, rows: np.ndarray, observation: Mapping[str, Any]) -> list[tuple[RobotCommand, float]]:
        rows = _finite_rows(rows, self.dim, "end-effector pose (6D rotation) action")
        poses = np.empty((len(rows), 12))
        poses[:, :3] = rows[:, :3]
        poses[:, 3:] = rot6d_to_matrices(rows[:, 3:9]).reshape(-1, 9)  # orthonormalises each rotation
        return [(CartesianPosition.checked(pose), grip) for pose, grip in zip(poses, rows[:, 9].tolist(), strict=True)]

    def encode(self, action: Action) -> np.ndarray:
        if not isinstance(action.command, CartesianPosition):
            raise TypeError(f"an end-effector pose codec encodes cartesian_pos commands, got {action.command!r}")
        rot6d = matrix_to_rot6d(action.command.rotation)
        return np.concatenate([action.command.translation, rot6d, [action.target_grip]]).astype(np.float32)


@dataclass(frozen=True)
class AbsoluteJointsAction:
    """(q1..q7, grip) -> `JointPosition` + target grip."""

    dim: int = 8
    names: tuple[str, ...] = ("q1", "q2", "q3", "q4", "q5", "q6", "q7", "grip")

    def decode(self, vector: np.ndarray, observation: Mapping[str, Any]) -> tuple[RobotCommand, float]:
        vector = finite_vector(vector, self.dim, "joint position action")
        return JointPosition(vector[:7]), float(vector[7])

    def decode_chunk(self, rows: np.ndarray, observation: Mapping[str, Any]) -> list[tuple[RobotCommand, float]]:
        rows = _finite_rows(rows, self.dim, "joint position action")
        positions = np.ascontiguousarray(rows[:, :7])
        return [(JointPosition.checked(row), grip) for row, grip in zip(positions, rows[:, 7].tolist(), strict=True)]

    def encode(self, action: Action) -> np.ndarray:
        if not isinstance(action.command, JointPosition):
            raise TypeError(f"a joint position codec encodes joint_pos commands, got {action.command!r}")
        return np.concatenate([action.command.positions, [action.target_grip]]).astype(np.float32)
