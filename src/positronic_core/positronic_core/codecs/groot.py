"""GR00T N1.6 codecs: protocol v1 observations -> GR00T's nested, batched input, and its action dict -> actions.

The input is what upstream Positronic's GR00T codecs send (and what `Gr00tPolicy.check_observation` accepts):
- `video`: `wrist_image` <- `image.wrist`, `exterior_image_1` <- `image.exterior`, uint8 (B, 1, 224, 224, 3),
  resized with padding;
- `state`: `ee_pose` (B, 1, 7: x, y, z, qw, qx, qy, qz; or 9: x, y, z + 6D rotation), `grip` (B, 1, 1) and, in the
  `*_joints` variants, `joint_position` (B, 1, 7), all float32;
- `language`: `annotation.language.language_instruction`: [[task], ...].

The model answers `{"ee_pose": (B, T, 7 | 9), "grip": (B, T, 1), ...}` in physical units and absolute terms: for
the `*_rel` variants GR00T's own processor turns the relative prediction back into absolute poses against the
state it was given (its `decode_action`), which is why upstream decodes `ee_rot6d_rel` with the same codec as
`ee_rot6d` and only the modality config differs. Each step becomes an absolute `cartesian_pos` and `target_grip`,
stamped i / 15 s. Joints are an input of the `*_joints` variants, never an output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from positronic_core.codecs.actions import AbsoluteEEPoseAction, AbsoluteEEPoseRot6dAction
from positronic_core.codecs.catalog import DEFAULT_ACTION_FPS
from positronic_core.codecs.codec import Codec, ImageInput, ObservationError, StateInput, encode_each
from positronic_core.geometry import pose7_to_pose9
from positronic_core.robot.commands import Action

LANGUAGE_KEY = "annotation.language.language_instruction"
IMAGE_SIZE = 224
_POSE_KEY = "robot_state.ee_pose"
_JOINTS_KEY = "robot_state.q"


@dataclass(frozen=True)
class GrootVariant:
    """One of the seed's `groot-server <variant>` subcommands."""

    name: str
    rot6d: bool
    joints: bool
    #: The GR00T modality config the vendor server loads, relative to the GR00T checkout (upstream's mapping).
    modality_config: str


VARIANTS: dict[str, GrootVariant] = {v.name: v for v in (
    GrootVariant("ee", rot6d=False, joints=False, modality_config="gr00t/configs/data/positronic_ee.py"),
    GrootVariant("ee_joints", rot6d=False, joints=True,
                 modality_config="gr00t/configs/data/positronic_ee_joints.py"),
    GrootVariant("ee_rot6d", rot6d=True, joints=False, modality_config="gr00t/configs/data/positronic_ee_rot6d.py"),
    GrootVariant("ee_rot6d_joints", rot6d=True, joints=True,
                 modality_config="gr00t/configs/data/positronic_ee_rot6d_joints.py"),
    GrootVariant("ee_rot6d_rel", rot6d=True, joints=False,
                 modality_config="gr00t/configs/data/positronic_ee_rot6d_rel.py"),
    GrootVariant("ee_rot6d_joints_rel", rot6d=True, joints=True,
                 modality_config="gr00t/configs/data/positronic_ee_rot6d_joints_rel.py"),
)}
DEFAULT_VARIANT = "ee"


def get_variant(name: str) -> GrootVariant:
    if name not in VARIANTS:
        raise LookupError(f"unknown GR00T variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


@dataclass(frozen=True)
class GrootCodec:
    variant: GrootVariant
    action_fps: float = DEFAULT_ACTION_FPS
    # The flat codec that validates and resizes each observation and decodes each action row.
    _flat: Codec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        state = [StateInput(_POSE_KEY, 7), StateInput("grip", 1)]
        if self.variant.joints:
            state.append(StateInput(_JOINTS_KEY, 7))
        flat = Codec(
            name=f"groot_{self.variant.name}",
            state=tuple(state),
            images=(ImageInput("wrist_image", "image.wrist", IMAGE_SIZE, IMAGE_SIZE),
                    ImageInput("exterior_image_1", "image.exterior", IMAGE_SIZE, IMAGE_SIZE)),
            action=AbsoluteEEPoseRot6dAction() if self.variant.rot6d else AbsoluteEEPoseAction(),
            action_fps=self.action_fps,
        )
        object.__setattr__(self, "_flat", flat)

    @property
    def pose_dim(self) -> int:
        return 9 if self.variant.rot6d else 7

    @property
    def meta(self) -> dict[str, Any]:
        return {**self._flat.meta, "groot_variant": self.variant.name,
                "modality_config": self.variant.modality_config}

    def encode(self, observations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A batch of protocol v1 observations -> GR00T's nested input. Errors name the bad observation."""
        frames = encode_each(observations, self._frame)
        state = {key: np.stack([f[key] for f in frames])[:, None, :]
                 for key in ("ee_pose", "grip", "joint_position") if key in frames[0]}
        return {
            "video": {key: np.stack([f[key] for f in frames])[:, None] for key in ("wrist_image", "exterior_image_1")},
            "state": state,
            "language": {LANGUAGE_KEY: [[f["task"]] for f in frames]},
        }

    def decode(self, action: Mapping[str, Any], index: int, observation: Mapping[str, Any]) -> list[Action]:
        """Batch element `index` of GR00T's action dict -> its chunk of actions."""
        missing = [key for key in ("ee_pose", "grip") if key not in action]
        if missing:
            raise ValueError(f"the GR00T model answered without {missing} (keys: {sorted(action)}); does the "
                             f"checkpoint match variant {self.variant.name!r}?")
        pose = _batch_element(action["ee_pose"], index, "ee_pose")
        grip = _batch_element(action["grip"], index, "grip")
        if pose.shape[1] != self.pose_dim or grip.shape[1] != 1 or pose.shape[0] != grip.shape[0]:
            raise ValueError(f"variant {self.variant.name!r} decodes ee_pose (T, {self.pose_dim}) and grip (T, 1), "
                             f"got {pose.shape} and {grip.shape}")
        return self._flat.decode(np.concatenate([pose, grip], axis=1), observation)

    def warmup_observation(self) -> dict[str, Any]:
        """A valid observation with black images, for the inference that warms the model up before serving."""
        observation: dict[str, Any] = {
            _POSE_KEY: np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), "grip": np.float32(0.0),
            "image.wrist": np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8),
            "image.exterior": np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8), "task": "warmup",
        }
        if self.variant.joints:
            observation[_JOINTS_KEY] = np.zeros(7)
        return observation

    def _frame(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        frame = self._flat.encode_frame(observation)
        vector = frame[self._flat.state_feature]
        pose7 = vector[:7]
        if np.linalg.norm(pose7[3:7]) < 1e-6:
            raise ObservationError(f"{_POSE_KEY!r} has a zero quaternion: {pose7.tolist()}")
        out = {
            "ee_pose": pose7_to_pose9(pose7).astype(np.float32) if self.variant.rot6d else pose7,
            "grip": vector[7:8],
            "wrist_image": frame["wrist_image"],
            "exterior_image_1": frame["exterior_image_1"],
            "task": frame[self._flat.task_field],
        }
        if self.variant.joints:
            out["joint_position"] = vector[8:15]
        return out


def _batch_element(value: Any, index: int, key: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 3 or index >= array.shape[0]:
        raise ValueError(f"the GR00T model's {key!r} must be (batch, steps, dim) with at least {index + 1} batch "
                         f"elements, got shape {array.shape}")
    return array[index]
