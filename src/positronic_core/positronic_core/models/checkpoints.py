"""Checkpoint discovery in LeRobot's training layout.

A checkpoints directory holds numbered steps, either `DIR/checkpoints/<step>/pretrained_model/` (what
`lerobot-train` writes) or `DIR/<step>/pretrained_model/`. Ids are the directory names as written (LeRobot pads them,
e.g. `010000`), sorted numerically; a request may name a step with or without the padding. The listing is read
again at every resolution so that "latest" follows a training run that is still writing checkpoints.
"""

from __future__ import annotations

from pathlib import Path

from positronic_core.models.errors import UnknownModelError

MODEL_SUBDIR = "pretrained_model"


def _steps_dir(checkpoints_dir: Path) -> Path:
    nested = checkpoints_dir / "checkpoints"
    return nested if nested.is_dir() else checkpoints_dir


class CheckpointRegistry:
    def __init__(self, checkpoints_dir: Path | str, default_checkpoint: str | None = None) -> None:
        self.checkpoints_dir = Path(checkpoints_dir).expanduser()
        if not self.checkpoints_dir.is_dir():
            raise FileNotFoundError(f"checkpoints directory {self.checkpoints_dir} does not exist")
        self.default_checkpoint = None if default_checkpoint is None else str(default_checkpoint)
        if self.default_checkpoint is not None:
            self.resolve(self.default_checkpoint)

    def list_models(self) -> list[str]:
        steps = _steps_dir(self.checkpoints_dir)
        ids = [p.name for p in steps.iterdir() if p.name.isdigit() and (p / MODEL_SUBDIR).is_dir()]
        return sorted(ids, key=lambda name: (int(name), name))

    def resolve(self, model_id: str | None) -> str:
        available = self.list_models()
        if model_id is None:
            model_id = self.default_checkpoint
        if model_id is None:
            if not available:
                raise UnknownModelError(
                    f"no checkpoints under {self.checkpoints_dir} (expected <step>/{MODEL_SUBDIR}/ or "
                    f"checkpoints/<step>/{MODEL_SUBDIR}/)")
            return available[-1]
        if model_id in available:
            return model_id
        if model_id.isdigit():
            same_step = [name for name in available if int(name) == int(model_id)]
            if len(same_step) == 1:
                return same_step[0]
        # The ids come before the directory: a WebSocket close reason keeps only the first 123 bytes of this.
        raise UnknownModelError(f"checkpoint {model_id!r} not found; available: {', '.join(available) or 'none'} "
                                f"(in {self.checkpoints_dir})")

    def path(self, model_id: str) -> Path:
        return _steps_dir(self.checkpoints_dir) / self.resolve(model_id) / MODEL_SUBDIR
