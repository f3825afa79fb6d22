"""Checkpoint discovery in a training run's output directory.

A checkpoints directory holds numbered steps; where exactly depends on the trainer (`CheckpointLayout`):
- LeRobot (the default): `DIR/checkpoints/<step>/pretrained_model/` (what `lerobot-train` writes) or
  `DIR/<step>/pretrained_model/`;
- openpi: `DIR/<step>/` (`OPENPI_LAYOUT`); other vendors declare theirs the same way.
Ids are the step as written (LeRobot pads them, e.g. `010000`), sorted numerically; a request may name a step with
or without the padding. The listing is read again at every resolution so that "latest" follows a training run that
is still writing checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from positronic_core.models.errors import UnknownModelError

MODEL_SUBDIR = "pretrained_model"


@dataclass(frozen=True)
class CheckpointLayout:
    """Checkpoints live at `DIR[/<nested>]/<prefix><step>[/<model_subdir>]`; the model id is `<step>`.

    `nested` is used when that directory exists, else the steps sit in DIR itself. A step without `model_subdir`
    (a checkpoint still being written) is not listed."""

    #: What the layout looks like, for the error about an empty directory.
    description: str
    model_subdir: str | None = None
    nested: str | None = None
    prefix: str = ""

    def steps_dir(self, checkpoints_dir: Path) -> Path:
        if self.nested is not None and (checkpoints_dir / self.nested).is_dir():
            return checkpoints_dir / self.nested
        return checkpoints_dir

    def model_id(self, step_dir: Path) -> str | None:
        """The id of a step directory, or None when it is not one."""
        name = step_dir.name
        if not name.startswith(self.prefix) or not name[len(self.prefix):].isdigit() or not step_dir.is_dir():
            return None
        if self.model_subdir is not None and not (step_dir / self.model_subdir).is_dir():
            return None
        return name[len(self.prefix):]

    def model_dir(self, steps_dir: Path, model_id: str) -> Path:
        step_dir = steps_dir / f"{self.prefix}{model_id}"
        return step_dir if self.model_subdir is None else step_dir / self.model_subdir


LEROBOT_LAYOUT = CheckpointLayout(f"<step>/{MODEL_SUBDIR}/ or checkpoints/<step>/{MODEL_SUBDIR}/",
                                  model_subdir=MODEL_SUBDIR, nested="checkpoints")
OPENPI_LAYOUT = CheckpointLayout("<step>/ (openpi's training output)")


class CheckpointRegistry:
    def __init__(self, checkpoints_dir: Path | str, default_checkpoint: str | None = None,
                 layout: CheckpointLayout = LEROBOT_LAYOUT) -> None:
        self.checkpoints_dir = Path(checkpoints_dir).expanduser()
        self.layout = layout
        if not self.checkpoints_dir.is_dir():
            raise FileNotFoundError(f"checkpoints directory {self.checkpoints_dir} does not exist")
        self.default_checkpoint = None if default_checkpoint is None else str(default_checkpoint)
        if self.default_checkpoint is not None:
            self.resolve(self.default_checkpoint)

    def list_models(self) -> list[str]:
        steps = self.layout.steps_dir(self.checkpoints_dir)
        ids = [model_id for p in steps.iterdir() if (model_id := self.layout.model_id(p)) is not None]
        return sorted(ids, key=lambda name: (int(name), name))

    def resolve(self, model_id: str | None) -> str:
        available = self.list_models()
        if model_id is None:
            model_id = self.default_checkpoint
        if model_id is None:
            if not available:
                raise UnknownModelError(
                    f"no checkpoints under {self.checkpoints_dir} (expected {self.layout.description})")
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
        return self.layout.model_dir(self.layout.steps_dir(self.checkpoints_dir), self.resolve(model_id))
