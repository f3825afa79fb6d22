"""The client-side codecs an upstream 0.4.x server may declare in its handshake's `local_stack`, as far as we run them.

A v3 server returns its model's own output; the codecs it declares turn our observation into the model's input
(`encode`) and that output into robot commands (`decode`). Each codec here does what upstream 0.4.1's component of
the same wire name and version does to inference data (read from its source, `positronic.policy.codecs`), and
nothing about training. Composition follows upstream's: in a sequence, `encode` runs first to last and `decode`
last to first; in a parallel group every member sees the same input and their outputs merge. A codec that does not
produce observation fields contributes none (so a sequence through an action decoder drops the observation, as
upstream's does), and one that does not decode actions contributes nothing to them.

Commands come out as our own `RobotCommand`s under `robot_command`, grips as floats under `target_grip`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from positronic_core.geometry import quat_wxyz_to_matrix, quat_xyzw_to_wxyz
from positronic_core.robot.commands import CartesianPosition, JointPosition
from positronic_core.wire.envelope import JPEG_QUALITY, jpeg_image

ROBOT_COMMAND = "robot_command"
TARGET_GRIP = "target_grip"
TASK = "task"
#: The model-output field upstream's absolute action decoders read.
ACTION = "action"
#: Our arms (the simulated and the real Franka) have seven joints.
ARM_JOINTS = 7


class StackCodec:
    """Observation in, model input out (`encode`); model output in, action records out (`decode`)."""

    meta: Mapping[str, Any] = {}

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    def decode(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.decode_one(item) for item in data]
        return self.decode_one(data)

    def decode_one(self, record: dict[str, Any]) -> dict[str, Any]:
        return {}


class Chain(StackCodec):
    def __init__(self, parts: Sequence[StackCodec]) -> None:
        self.parts = list(parts)
        self.meta = {k: v for part in self.parts for k, v in part.meta.items()}

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        for part in self.parts:
            data = part.encode(data)
        return data

    def decode(self, data: Any) -> Any:
        for part in reversed(self.parts):
            data = part.decode(data)
        return data


class Merge(StackCodec):
    def __init__(self, parts: Sequence[StackCodec]) -> None:
        self.parts = list(parts)
        self.meta = {k: v for part in self.parts for k, v in part.meta.items()}

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in self.parts:
            merged.update(part.encode(data))
        return merged

    def decode(self, data: Any) -> Any:
        outputs = [part.decode(data) for part in self.parts]
        if isinstance(data, list):
            return [{k: v for output in row for k, v in output.items()} for row in zip(*outputs, strict=True)]
        return {k: v for output in outputs for k, v in output.items()}


class Metadata(StackCodec):
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.meta = dict(values)

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def decode(self, data: Any) -> Any:
        return data


class SplitActionChunk(StackCodec):
    """`{field: (T, ...) array}` -> T records `{field: row}`."""

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def decode(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, Mapping) or not data:
            raise ValueError("an action chunk must be a non-empty map of prediction arrays")
        arrays = {name: np.asarray(value) for name, value in data.items()}
        if any(a.ndim < 1 for a in arrays.values()):
            raise ValueError("every action chunk field needs a time axis")
        horizons = {len(a) for a in arrays.values()}
        if len(horizons) != 1:
            raise ValueError(f"action chunk fields disagree on the horizon: {sorted(horizons)}")
        return [{name: a[i] for name, a in arrays.items()} for i in range(horizons.pop())]


def _rotation_matrix(values: np.ndarray, rep: str) -> np.ndarray:
    """A rotation in one of upstream's `Rotation.Representation`s as a 3x3 matrix."""
    if rep == "quat":
        return quat_wxyz_to_matrix(values)
    if rep == "quat_xyzw":
        return quat_wxyz_to_matrix(quat_xyzw_to_wxyz(values))
    if rep == "rotation_matrix":
        return values.reshape(3, 3)
    if rep == "rotvec":
        angle = float(np.linalg.norm(values))
        return quat_wxyz_to_matrix(np.concatenate([[np.cos(angle / 2)], 0.5 * np.sinc(angle / (2 * np.pi)) * values]))
    if rep == "rot6d":  # the first two rows, Gram-Schmidt orthonormalised
        first = values[:3] / np.linalg.norm(values[:3])
        second = values[3:6] - np.dot(first, values[3:6]) * first
        second /= np.linalg.norm(second)
        return np.stack([first, second, np.cross(first, second)])
    raise ValueError(f"rotation representation {rep!r}")


ROTATION_SIZES = {"quat": 4, "quat_xyzw": 4, "rotation_matrix": 9, "rotvec": 3, "rot6d": 6}


class AbsolutePositionAction(StackCodec):
    """`action` = translation, rotation (`rotation_rep`), grip -> an absolute Cartesian target."""

    def __init__(self, tgt_ee_pose_key: str, tgt_grip_key: str, rotation_rep: str = "quat") -> None:
        if rotation_rep not in ROTATION_SIZES:
            raise UnsupportedArgument(f"rotation_rep {rotation_rep!r} (this client reads "
                                      f"{', '.join(ROTATION_SIZES)})")
        self.rotation_rep = rotation_rep

    def decode_one(self, record: dict[str, Any]) -> dict[str, Any]:
        vector = np.asarray(record[ACTION], dtype=np.float64).reshape(-1)
        size = 3 + ROTATION_SIZES[self.rotation_rep] + 1
        if vector.size != size:
            raise ValueError(f"an absolute {self.rotation_rep} position action has {size} values, got {vector.size}")
        rotation = _rotation_matrix(vector[3:-1], self.rotation_rep)
        return {ROBOT_COMMAND: CartesianPosition(np.concatenate([vector[:3], rotation.reshape(9)])),
                TARGET_GRIP: float(vector[-1])}


def _check_joints(num_joints: Any) -> None:
    if num_joints != ARM_JOINTS:
        raise UnsupportedArgument(f"num_joints={num_joints!r} (our arms have {ARM_JOINTS})")


class AbsoluteJointsAction(StackCodec):
    """`action` = joint positions, grip -> an absolute joint target."""

    def __init__(self, tgt_joints_key: str, tgt_grip_key: str, num_joints: int = ARM_JOINTS) -> None:
        _check_joints(num_joints)

    def decode_one(self, record: dict[str, Any]) -> dict[str, Any]:
        vector = np.asarray(record[ACTION], dtype=np.float64).reshape(-1)
        if vector.size != ARM_JOINTS + 1:
            raise ValueError(f"an absolute joints action has {ARM_JOINTS + 1} values, got {vector.size}")
        return {ROBOT_COMMAND: JointPosition(vector[:ARM_JOINTS]), TARGET_GRIP: float(vector[-1])}


class JointPositionAction(StackCodec):
    """Named joint and grip predictions -> an absolute joint target."""

    def __init__(self, joints_key: str, grip_key: str, num_joints: int = ARM_JOINTS) -> None:
        _check_joints(num_joints)
        self.joints_key, self.grip_key = joints_key, grip_key

    def decode_one(self, record: dict[str, Any]) -> dict[str, Any]:
        return {ROBOT_COMMAND: JointPosition(np.asarray(record[self.joints_key]).reshape(ARM_JOINTS)),
                TARGET_GRIP: float(np.asarray(record[self.grip_key]).item())}


class BinarizeGripInference(StackCodec):
    def __init__(self, threshold: float = 0.5, key: str = TARGET_GRIP) -> None:
        self.threshold, self.key = float(threshold), key

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    def decode_one(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.key in record:
            record = {**record, self.key: 1.0 if record[self.key] > self.threshold else 0.0}
        return record


class SelectObservationFields(StackCodec):
    """Model input = `{name: observation[source]}` for each entry of `mapping`."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        return {name: data[source] for name, source in self.mapping.items()}


class RenameObservationFields(StackCodec):
    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        renamed: dict[str, Any] = {}
        for name, value in data.items():
            target = self.mapping.get(name, name)
            if target in renamed:
                raise ValueError(f"observation fields collide at {target!r}")
            renamed[target] = value
        return renamed

    def decode(self, data: Any) -> Any:
        return data


class StateObservation(StackCodec):
    """Each `state` entry becomes one flat float32 vector of its input fields, in order; the task is copied to
    `task_field`."""

    def __init__(self, state: Mapping[str, Mapping[str, int]], task_field: str = TASK) -> None:
        self.state = {name: list(fields) for name, fields in state.items()}
        self.task_field = task_field

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {self.task_field: data[TASK]} if TASK in data else {}
        for name, fields in self.state.items():
            missing = [f for f in fields if f not in data]
            if missing:
                raise KeyError(f"state {name!r} needs {missing}; the observation has {sorted(data)}")
            parts = [np.asarray(data[f], dtype=np.float32).reshape(-1) for f in fields]
            out[name] = np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)
        return out


def is_rgb_image(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim >= 3 and value.shape[-1] == 3 \
        and min(value.shape[-3:-1]) > 0


class EncodeImages(StackCodec):
    """RGB images -> JPEG (the server decodes them back to arrays): every uint8 (..., H, W, 3) array, or only those
    at `paths` (lists of map keys and list indices)."""

    def __init__(self, paths: Sequence[Sequence[str | int]] | None = None, quality: int = JPEG_QUALITY) -> None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise UnsupportedArgument(f"quality={quality!r} (a JPEG quality is 0..100)")
        self.paths = None if paths is None else [list(path) for path in paths]
        self.quality = quality

    def encode(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.paths is None:
            return _map_leaves(data, lambda v: jpeg_image(v, self.quality) if is_rgb_image(v) else v)
        for path in self.paths:
            data = _update_at(data, path, lambda v: jpeg_image(np.asarray(v), self.quality))
        return data

    def decode(self, data: Any) -> Any:
        return data


def _map_leaves(value: Any, transform: Callable[[Any], Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: _map_leaves(v, transform) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map_leaves(v, transform) for v in value)
    return transform(value)


def _update_at(value: Any, path: Sequence[str | int], transform: Callable[[Any], Any]) -> Any:
    if not path:
        return transform(value)
    key, rest = path[0], path[1:]
    if isinstance(value, Mapping):
        return {**value, key: _update_at(value[key], rest, transform)}
    if isinstance(value, (list, tuple)) and isinstance(key, int):
        items = list(value)
        items[key] = _update_at(items[key], rest, transform)
        return type(value)(items)
    raise ValueError(f"path {list(path)!r} does not lead to an image")


class UnsupportedArgument(ValueError):
    """A component this client runs, configured in a way it does not."""


#: wire name -> {version: factory}, for the versions 0.4.1's client accepts for each.
CODECS: dict[str, dict[int, Callable[..., StackCodec]]] = {
    "metadata": {1: Metadata},
    "split_action_chunk": {1: SplitActionChunk},
    "absolute_position_action": {1: AbsolutePositionAction},
    "absolute_joints_action": {1: AbsoluteJointsAction},
    "joint_position_action": {1: JointPositionAction},
    "binarize_grip_inference": {1: BinarizeGripInference},
    "select_observation_fields": {1: SelectObservationFields},
    "rename_observation_fields": {1: RenameObservationFields},
    "state_observation": {1: StateObservation},
    "encode_images": {1: EncodeImages},
}
