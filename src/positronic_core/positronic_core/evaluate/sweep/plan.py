"""What a sweep runs: the episode settings shared by every task, where the models come from, the tasks and their
results. Everything here is small and picklable: a task travels to a worker process (or a Ray node) as is.

Seeds are paired across models: task (model, seed) resets the scene with `seed`, so every model meets the same
cube placements. Tasks are ordered seed by seed (every model's episode of one seed before the next seed), so the
pairs the statistics need complete first and a stopped sweep leaves whole pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from positronic_core.stacking_task import CAMERAS, TASK

#: Statics every sweep episode carries, so a rerun finds what is done and a report knows what it was.
MODEL_STATIC = "sweep.model"
SEED_STATIC = "sweep.seed"


@dataclass(frozen=True)
class EpisodeSettings:
    """The simulation flags of `positronic-inference sim` that a sweep passes through."""

    simulation_time: float = 15.0
    task: str = TASK
    policy_fps: float = 15.0
    simulate_timeout: bool = False
    camera_width: int = 320
    camera_height: int = 240
    cameras: tuple[str, ...] = CAMERAS
    render_quality: str = "fast"


@dataclass(frozen=True)
class ModelSource:
    """Where the models are: a policy server (`server`) or a LeRobot ACT training directory (`checkpoints_dir`)."""

    server: tuple[str, int] | None = None
    checkpoints_dir: str | None = None
    codec: str = "ee"
    device: str = "cpu"
    resize: int | None = 640
    token: str | None = None
    connect_timeout: float = 10.0
    infer_timeout: float = 120.0

    def __post_init__(self) -> None:
        if (self.server is None) == (self.checkpoints_dir is None):
            raise ValueError("give either a server or a checkpoints directory")

    def describe(self) -> str:
        return f"policy server at {self.server[0]}:{self.server[1]}" if self.server else \
            f"checkpoints in {self.checkpoints_dir}"

    def list_models(self) -> list[str]:
        """The model ids a sweep can name (raises InferenceError, or OSError/ValueError for a bad directory)."""
        if self.server is not None:
            from positronic_core.wire.client import InferenceClient

            host, port = self.server
            return InferenceClient(host, port, token=self.token, connect_timeout=self.connect_timeout).served_models()
        from positronic_core.models.checkpoints import CheckpointRegistry

        return CheckpointRegistry(Path(self.checkpoints_dir)).list_models()


@dataclass(frozen=True)
class SweepSpec:
    output_dir: Path
    source: ModelSource
    settings: EpisodeSettings


@dataclass(frozen=True)
class Task:
    model: str
    seed: int

    def __str__(self) -> str:
        return f"{self.model} seed {self.seed}"


@dataclass(frozen=True)
class TaskResult:
    """A task's episode, or why it has none (`error`: the policy or the recording failed; nothing was kept)."""

    task: Task
    success: bool | None = None
    progress: float | None = None  # the final stacking score, partial credit in [0, 1]
    path: str | None = None  # the published episode directory
    error: str = ""
    wall_s: float = 0.0
    worker_pid: int = 0
    #: An earlier attempt of this task died mid-episode (its partial directory was found and cleared).
    retried: bool = False
    #: Found already published (a resumed sweep, or a retry of an attempt that died after publishing).
    already_done: bool = False
    #: `error` is a server session dropped mid-episode (`wire.client.SessionDropped`), which a new session may not
    #: meet: behind a load balancer, the replica holding it died and the others still serve.
    session_dropped: bool = False


def plan_tasks(models: Sequence[str], seeds: Sequence[int]) -> list[Task]:
    """Every (model, seed), seed by seed."""
    return [Task(model, seed) for seed in seeds for model in models]


def check_model_name(model: str) -> str:
    """A model id becomes a directory name under the output directory."""
    if not model or "/" in model or "\\" in model or model.startswith(".") or "\0" in model:
        raise ValueError(f"model id {model!r} cannot name a directory under the output directory")
    return model


def result_from_statics(task: Task, path: Path, statics: dict[str, Any]) -> TaskResult:
    success = statics.get("eval.auto_success")
    final = statics.get("eval.final_stacking_success")
    progress = float(final) if isinstance(final, (int, float)) and not isinstance(final, bool) else None
    return TaskResult(task, success=success if isinstance(success, bool) else None,
                      progress=None if progress is None else min(1.0, max(0.0, progress)), path=str(path),
                      already_done=True)
