"""A model source over a checkpoints directory, loading each checkpoint with a backend's loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.serve.model import Model

#: Loads one checkpoint directory (the `pretrained_model` folder), reporting progress.
CheckpointLoader = Callable[[Path, Callable[[str], None]], Model]


class CheckpointSource:
    def __init__(self, registry: CheckpointRegistry, loader: CheckpointLoader) -> None:
        self.registry = registry
        self.loader = loader

    def list_models(self) -> list[str]:
        return self.registry.list_models()

    def resolve(self, model_id: str | None) -> str:
        return self.registry.resolve(model_id)

    def load(self, model_id: str, progress: Callable[[str], None]) -> Model:
        path = self.registry.path(model_id)
        progress(f"loading checkpoint {model_id} from {path}")
        model = self.loader(path, progress)
        model.meta.setdefault("checkpoint_path", str(path))
        return model
