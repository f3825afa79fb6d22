"""What the server needs from a backend: a source of named models, and loaded models that infer in batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from positronic_core.robot.commands import Action


class Model(Protocol):
    """A loaded checkpoint. `infer_batch` is called from one worker thread at a time, never on the event loop (which
    `infer_batch_async`, where a model has it, is called on instead)."""

    #: Handshake meta: type, checkpoint_path, codec, image_sizes, action_fps, ...
    meta: dict[str, Any]
    #: Largest batch `infer_batch` accepts; 1 disables cross-session batching for this model.
    max_batch_size: int
    #: Optional, default True: False declares a model that answers in microseconds without blocking (no weights,
    #: no I/O), which the server then calls on its event loop instead of a worker thread.
    #: Optional `alive`, default True: False once the model can no longer answer (its vendor process died); the pool
    #: then drops it and loads it afresh for the next session.
    #: Optional `async infer_batch_async(observations)`: `infer_batch` for a model whose calls are round trips to a
    #: vendor server, awaited on the event loop (one call at a time) in place of `infer_batch` on a worker thread.
    #: Optional `async close_async()`: closes what such a model keeps on the event loop, there, before `close`.

    def infer_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]: ...

    def close(self) -> None: ...


class ModelSource(Protocol):
    #: Optional `exclusive`, default False: True keeps at most one of its models loaded or loading, switching only
    #: once the sessions on the current one have ended (vendor backends: one GPU-sized server at a time).

    def list_models(self) -> list[str]:
        """Model ids, oldest first."""
        ...

    def resolve(self, model_id: str | None) -> str:
        """The id a session asking for `model_id` gets (None = the default), or `UnknownModelError`."""
        ...

    def load(self, model_id: str, progress: Callable[[str], None]) -> Model:
        """Load a model (blocking; runs in a worker thread). `progress` reports what it is doing."""
        ...
