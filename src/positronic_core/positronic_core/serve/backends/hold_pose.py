"""A model-free backend that answers every observation with a chunk holding the observed end-effector pose.

It needs no checkpoint and no GPU, so it checks a deployment end to end (network, auth, client, robot loop) before
a real model is involved, and it is the null model of the wire benchmark. `latency_s` makes it behave like a slow
model, to exercise chunk scheduling against latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from positronic_core.geometry import pose7_to_pose12
from positronic_core.models.errors import UnknownModelError
from positronic_core.robot.commands import Action, CartesianPosition

_HOME_POSE7 = np.array([0.5, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0])


class HoldPoseModel:
    def __init__(self, chunk_size: int = 1, action_fps: float = 15.0, latency_s: float = 0.0,
                 max_batch_size: int = 64) -> None:
        self.chunk_size = chunk_size
        self.action_fps = action_fps
        self.latency_s = latency_s
        self.max_batch_size = max_batch_size
        # Answering is a few numpy operations, unless it imitates a slow model by sleeping.
        self.blocking = latency_s > 0
        self.meta: dict[str, Any] = {"type": "hold_pose", "codec": "none", "action_fps": action_fps,
                                     "chunk_size": chunk_size}

    def infer_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        if self.latency_s:
            time.sleep(self.latency_s)
        return [self._chunk(obs) for obs in observations]

    def _chunk(self, observation: Mapping[str, Any]) -> list[Action]:
        pose7 = observation.get("robot_state.ee_pose", _HOME_POSE7)
        pose7 = np.asarray(pose7, dtype=np.float64)
        if pose7.shape != (7,):
            raise ValueError(f"robot_state.ee_pose must have 7 values, got shape {pose7.shape}")
        grip = float(np.asarray(observation.get("grip", 0.0)).reshape(-1)[0])
        command = CartesianPosition(pose7_to_pose12(pose7))
        return [Action(command, grip, i / self.action_fps) for i in range(self.chunk_size)]

    def close(self) -> None:
        pass


class HoldPoseSource:
    """Serves `HoldPoseModel`s under fixed ids (default: one model, "1")."""

    def __init__(self, model_ids: Sequence[str] = ("1",), **model_kwargs: Any) -> None:
        self.model_ids = list(model_ids)
        self.model_kwargs = model_kwargs
        self.loads: list[str] = []

    def list_models(self) -> list[str]:
        return list(self.model_ids)

    def resolve(self, model_id: str | None) -> str:
        if model_id is None:
            return self.model_ids[-1]
        if model_id not in self.model_ids:
            raise UnknownModelError(f"model {model_id!r} not found; available: {', '.join(self.model_ids)}")
        return model_id

    def load(self, model_id: str, progress: Callable[[str], None]) -> HoldPoseModel:
        self.loads.append(model_id)
        return HoldPoseModel(**self.model_kwargs)
