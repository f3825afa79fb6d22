"""A codec maps Positronic's canonical observation and action to one model's inputs and outputs.

The same object serves both sides of a model's life, which is what keeps them in agreement:
- training export: `encode_frame` (one observation -> the model's features, images as resized uint8 HWC, what a
  LeRobot dataset stores), `encode_action` (a recorded action -> the model's target vector), `lerobot_features`;
- serving: `encode` (a batch of observations -> model-ready arrays: state (B, D) float32, images (B, 3, H, W)
  float32 in [0, 1], the layout LeRobot policies take) and `decode` (one observation's output chunk -> actions,
  each stamped `i / action_fps` seconds after the chunk start).

Codecs use numpy only, so the client side and dataset tools can import them without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from positronic_core.codecs.actions import ActionDecoder
from positronic_core.codecs.image_resize import resize_with_padding
from positronic_core.robot.commands import Action

T = TypeVar("T")


class ObservationError(ValueError):
    """An observation a codec cannot encode (missing key, wrong shape or dtype); `index` is its place in a batch."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message if index is None else f"observation {index}: {message}")
        self.detail = message
        self.index = index


def encode_each(observations: Sequence[Mapping[str, Any]], encode_one: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """`encode_one` of each observation of a non-empty batch; an ObservationError names the observation's index."""
    if len(observations) == 0:
        raise ValueError("cannot encode an empty batch")
    frames = []
    for index, observation in enumerate(observations):
        try:
            frames.append(encode_one(observation))
        except ObservationError as e:
            raise ObservationError(e.detail, index) from None
    return frames


@dataclass(frozen=True)
class StateInput:
    """A canonical observation key concatenated, in order, into the model's state vector."""

    key: str
    size: int


@dataclass(frozen=True)
class ImageInput:
    """A model image feature (`feature`) fed from a canonical camera key, resized with padding to width x height."""

    feature: str
    key: str
    width: int
    height: int


@dataclass(frozen=True)
class Codec:
    name: str
    state: tuple[StateInput, ...]
    images: tuple[ImageInput, ...]
    action: ActionDecoder
    action_fps: float = 15.0
    state_feature: str = "observation.state"
    action_feature: str = "action"
    task_field: str = "task"

    def __post_init__(self) -> None:
        if self.action_fps <= 0:
            raise ValueError(f"action_fps must be positive, got {self.action_fps}")

    @property
    def state_dim(self) -> int:
        return sum(part.size for part in self.state)

    @property
    def meta(self) -> dict[str, Any]:
        """Handshake facts: codec name, image sizes as {camera key: [width, height]}, action rate in Hz."""
        return {
            "codec": self.name,
            "image_sizes": {image.key: [image.width, image.height] for image in self.images},
            "action_fps": self.action_fps,
        }

    @property
    def input_features(self) -> dict[str, tuple[int, ...]]:
        """Model input name -> shape as LeRobot policies declare it (images channel-first)."""
        features: dict[str, tuple[int, ...]] = {self.state_feature: (self.state_dim,)}
        for image in self.images:
            features[image.feature] = (3, image.height, image.width)
        return features

    @property
    def output_features(self) -> dict[str, tuple[int, ...]]:
        return {self.action_feature: (self.action.dim,)}

    @property
    def lerobot_features(self) -> dict[str, dict[str, Any]]:
        """LeRobot dataset features (training export): what `encode_frame` and `encode_action` produce."""
        state_names = [
            f"{part.key}.{i}" if part.size > 1 else part.key for part in self.state for i in range(part.size)
        ]
        features: dict[str, dict[str, Any]] = {
            self.state_feature: {"dtype": "float32", "shape": (self.state_dim,), "names": state_names},
        }
        for image in self.images:
            features[image.feature] = {
                "dtype": "video",
                "shape": (image.height, image.width, 3),
                "names": ["height", "width", "channels"],
            }
        features[self.action_feature] = {
            "dtype": "float32",
            "shape": (self.action.dim,),
            "names": list(self.action.names),
        }
        return features

    def encode_frame(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """One observation -> {state feature: float32 (D,), image feature: uint8 (H, W, 3), task field: str}."""
        if not isinstance(observation, Mapping):
            raise ObservationError(f"an observation must be a map, got {type(observation).__name__}")
        frame: dict[str, Any] = {self.state_feature: self._state_vector(observation)}
        for image in self.images:
            frame[image.feature] = resize_with_padding(self._image(observation, image.key), image.width, image.height)
        task = observation.get("task", "")
        if not isinstance(task, str):
            raise ObservationError(f"'task' must be a string, got {type(task).__name__}")
        frame[self.task_field] = task
        return frame

    def encode(self, observations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """A batch of observations -> model-ready arrays (see the module docstring). Errors name the bad index."""
        frames = encode_each(observations, self.encode_frame)
        batch: dict[str, Any] = {self.state_feature: np.stack([f[self.state_feature] for f in frames])}
        for image in self.images:
            pixels = np.stack([f[image.feature] for f in frames])  # (B, H, W, 3) uint8
            batch[image.feature] = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        batch[self.task_field] = [f[self.task_field] for f in frames]
        return batch

    def decode(self, model_output: np.ndarray, observation: Mapping[str, Any]) -> list[Action]:
        """One observation's output, (T, action dim) or (action dim,), -> T actions stamped i / action_fps."""
        rows = np.asarray(model_output, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows[None, :]
        if rows.ndim != 2 or rows.shape[1] != self.action.dim:
            raise ValueError(
                f"codec {self.name!r} decodes ({self.action.dim},) action vectors, got an output of shape "
                f"{np.shape(model_output)}"
            )
        return [Action(command=command, target_grip=grip, timestamp=i / self.action_fps)
                for i, (command, grip) in enumerate(self.action.decode_chunk(rows, observation))]

    def encode_action(self, action: Action) -> np.ndarray:
        """A recorded action -> the model's float32 target vector (the inverse of `decode`)."""
        return self.action.encode(action)

    def _state_vector(self, observation: Mapping[str, Any]) -> np.ndarray:
        parts = []
        for part in self.state:
            if part.key not in observation:
                raise ObservationError(f"missing {part.key!r} (codec {self.name!r} needs {self._needed_keys()})")
            try:
                value = np.asarray(observation[part.key], dtype=np.float32).reshape(-1)
            except (TypeError, ValueError):
                raise ObservationError(
                    f"{part.key!r} must be numeric, got {type(observation[part.key]).__name__}"
                ) from None
            if value.size != part.size:
                raise ObservationError(f"{part.key!r} must have {part.size} values, got {value.size}")
            if not np.all(np.isfinite(value)):
                raise ObservationError(f"{part.key!r} contains a non-finite value")
            parts.append(value)
        return np.concatenate(parts)

    def _image(self, observation: Mapping[str, Any], key: str) -> np.ndarray:
        if key not in observation:
            raise ObservationError(f"missing {key!r} (codec {self.name!r} needs {self._needed_keys()})")
        image = observation[key]
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            described = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
                         else type(image).__name__)
            raise ObservationError(f"{key!r} must be a uint8 (height, width, 3) array, got {described}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ObservationError(f"{key!r} is empty: shape {image.shape}")
        return image

    def _needed_keys(self) -> str:
        return ", ".join([part.key for part in self.state] + [image.key for image in self.images])
