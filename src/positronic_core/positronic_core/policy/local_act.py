"""Local ACT: a LeRobot ACT checkpoint run in-process by the control loop, no server involved.

The same loader as the policy server's lerobot backend (`models.lerobot_act`), so a checkpoint behaves
identically served or local, LeRobot 0.3.3 checkpoints included. Each `infer` returns the model's whole chunk
with per-action timestamps; the control loop queues and schedules it. The model keeps no state between calls, so
a new session costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from positronic_core.codecs import Codec, get_codec
from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.models.lerobot_act import ActModel, load_act_checkpoint
from positronic_core.robot.commands import Action


class LocalActSession:
    def __init__(self, model: ActModel) -> None:
        self._model = model

    def infer(self, observation: Mapping[str, Any]) -> list[Action]:
        return self._model.infer_batch([observation])[0]

    def close(self) -> None:
        pass


class LocalActPolicy:
    """ACT from `checkpoints_dir` (`<dir>/checkpoints/<step>/pretrained_model/` or `<dir>/<step>/pretrained_model/`).

    `checkpoint` names a step directory (`010000`, or `10000` without the padding); None takes the highest step.
    An unknown step raises `UnknownModelError` listing the available ones. The model loads in the constructor, so a
    bad checkpoint fails before an episode starts.
    """

    wants_privileged_state = False

    def __init__(self, checkpoints_dir: Path | str, checkpoint: str | int | None = None, codec: Codec | str = "ee",
                 device: str = "cpu") -> None:
        self._codec = get_codec(codec)
        registry = CheckpointRegistry(Path(checkpoints_dir))
        self.checkpoint_id = registry.resolve(None if checkpoint is None else str(checkpoint))
        self.checkpoint_path = registry.path(self.checkpoint_id)
        self._model: ActModel | None = load_act_checkpoint(self.checkpoint_path, self._codec, device=device)
        self._meta = {
            **self._model.meta,
            "type": "act",
            "checkpoint_id": self.checkpoint_id,
            "checkpoints_dir": str(registry.checkpoints_dir),
        }

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self._meta)

    def new_session(self, context: Mapping[str, Any] | None = None) -> LocalActSession:
        if self._model is None:
            raise RuntimeError("this local ACT policy is closed")
        return LocalActSession(self._model)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None
