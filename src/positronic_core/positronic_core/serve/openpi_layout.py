"""openpi-style observations and action rows, translated to and from Positronic's robot vocabulary.

openpi clients (`openpi_client.websocket_client_policy`) send flat maps in the layout of upstream Positronic's
OpenPI codecs, and expect `actions` as one (horizon, dim) array:
- `observation/state`: float, the concatenation of the layout's state parts (below);
- `observation/image` (exterior camera) and `observation/wrist_image`: (H, W, 3) images, uint8 or float in [0, 1],
  channel-first (3, H, W) accepted too, as openpi's own policies accept it;
- `prompt`: the instruction (optional).

Layouts (state parts, in order):
- `ee`: EE pose x, y, z, qw, qx, qy, qz, then grip (8);
- `ee_joints`: the same, then the 7 joint positions (15);
- `joints`: the 7 joint positions, then grip (8).

Action rows follow the command each action carries, whatever the layout: `cartesian_pos` -> x, y, z, qw, qx, qy, qz,
grip; `joint_pos` -> q1..q7, grip; `joint_delta` -> 7 velocities, grip. A chunk mixing command types has no (H, D)
form and is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from positronic_core.geometry import matrix_to_quat_wxyz
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition

STATE_KEY = "observation/state"
PROMPT_KEY = "prompt"
#: openpi image key -> our camera key.
IMAGE_KEYS = {"observation/image": "image.exterior", "observation/wrist_image": "image.wrist"}


class OpenpiObservationError(ValueError):
    """An openpi-style observation this layout cannot translate; the message names the openpi key."""


@dataclass(frozen=True)
class OpenpiLayout:
    name: str
    #: (our observation key, number of values), concatenated in this order into `observation/state`.
    state: tuple[tuple[str, int], ...]

    @property
    def state_dim(self) -> int:
        return sum(size for _, size in self.state)

    def describe(self) -> str:
        return " + ".join(f"{key} ({size})" for key, size in self.state)

    def to_observation(self, openpi_obs: Mapping[str, Any]) -> dict[str, Any]:
        """An openpi-style observation -> the robot observation our models take."""
        if STATE_KEY not in openpi_obs:
            raise OpenpiObservationError(f"missing {STATE_KEY!r} (layout {self.name!r}: {self.describe()})")
        try:
            state = np.asarray(openpi_obs[STATE_KEY], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise OpenpiObservationError(
                f"{STATE_KEY!r} must be numeric, got {type(openpi_obs[STATE_KEY]).__name__}") from None
        if state.size != self.state_dim:
            raise OpenpiObservationError(f"{STATE_KEY!r} must have {self.state_dim} values for layout {self.name!r} "
                                         f"({self.describe()}), got {state.size}")
        observation: dict[str, Any] = {}
        offset = 0
        for key, size in self.state:
            part = state[offset:offset + size]
            # One-value parts (the grip) are scalars, as protocol v1 clients send them.
            observation[key] = float(part[0]) if size == 1 else part
            offset += size
        for openpi_key, key in IMAGE_KEYS.items():
            if openpi_key not in openpi_obs:
                raise OpenpiObservationError(f"missing {openpi_key!r} (an (H, W, 3) image)")
            observation[key] = _hwc_uint8(openpi_obs[openpi_key], openpi_key)
        if PROMPT_KEY in openpi_obs:
            prompt = openpi_obs[PROMPT_KEY]
            if not isinstance(prompt, str):
                raise OpenpiObservationError(f"{PROMPT_KEY!r} must be a string, got {type(prompt).__name__}")
            observation["task"] = prompt
        return observation


LAYOUTS: dict[str, OpenpiLayout] = {
    "ee": OpenpiLayout("ee", (("robot_state.ee_pose", 7), ("grip", 1))),
    "ee_joints": OpenpiLayout("ee_joints", (("robot_state.ee_pose", 7), ("grip", 1), ("robot_state.q", 7))),
    "joints": OpenpiLayout("joints", (("robot_state.q", 7), ("grip", 1))),
}


def get_layout(name: str) -> OpenpiLayout:
    if name not in LAYOUTS:
        raise LookupError(f"unknown openpi layout {name!r}; choose one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def _hwc_uint8(image: Any, key: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or not (
            image.dtype == np.uint8 or image.dtype.kind == "f"):
        described = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
                     else type(image).__name__)
        raise OpenpiObservationError(f"{key!r} must be an (H, W, 3) uint8 or float image, got {described}")
    if image.shape[2] != 3 and image.shape[0] == 3:
        image = image.transpose(1, 2, 0)
    if image.shape[2] != 3:
        raise OpenpiObservationError(f"{key!r} must have 3 channels, got shape {image.shape}")
    if image.dtype.kind == "f":
        if not np.all(np.isfinite(image)):
            raise OpenpiObservationError(f"{key!r} contains a non-finite value")
        # openpi's own convention for float images: [0, 1] scaled to uint8.
        image = np.clip(image * 255.0, 0, 255)
    return np.ascontiguousarray(image, dtype=np.uint8)


def actions_to_rows(actions: Sequence[Action]) -> np.ndarray:
    """A chunk of actions -> the (H, D) float32 array openpi clients expect under `actions`."""
    if not actions:
        raise ValueError("the model returned an empty chunk")
    kinds = {type(a.command) for a in actions}
    if len(kinds) != 1:
        raise ValueError(f"a chunk mixing {sorted(k.__name__ for k in kinds)} has no (horizon, dim) form")
    return np.stack([_row(a) for a in actions]).astype(np.float32)


def _row(action: Action) -> np.ndarray:
    command = action.command
    if isinstance(command, CartesianPosition):
        values = np.concatenate([command.translation, matrix_to_quat_wxyz(command.rotation)])
    elif isinstance(command, JointPosition):
        values = command.positions
    elif isinstance(command, JointDelta):
        values = command.velocities
    else:
        raise ValueError(f"a {type(command).__name__} command has no openpi action row")
    return np.append(values, action.target_grip)
