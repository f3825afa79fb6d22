"""One sweep task, run in a worker process (the local pool's or Ray's): one episode of one model on one seed,
recorded the way `positronic-inference sim` records it (the same simulator, runtime and timed driver, in-process),
then published into its slot (`placement`).

A worker keeps its simulator between tasks (building one costs seconds, a short episode less), and its loaded local
ACT checkpoints: per process, never shared across processes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from positronic_core.evaluate.sweep import placement
from positronic_core.evaluate.sweep.plan import (
    MODEL_STATIC,
    SEED_STATIC,
    EpisodeSettings,
    ModelSource,
    SweepSpec,
    Task,
    TaskResult,
)
from positronic_core.policy.base import Policy

_simulators: dict[EpisodeSettings, Any] = {}
_local_models: dict[tuple[str, str, str, str], Policy] = {}


def run_task(spec: SweepSpec, task: Task) -> TaskResult:
    """The task's episode, published; or a result naming the error (nothing of the episode kept)."""
    started = time.monotonic()
    try:
        done = placement.published(spec.output_dir, task)
    except placement.PlacementError as exc:
        return TaskResult(task, error=str(exc), worker_pid=os.getpid())
    if done is not None:
        return done
    partial, retried = placement.begin(spec.output_dir, task)
    try:
        result = _record(spec, task, partial)
    finally:
        placement.discard(spec.output_dir, task)
    return TaskResult(task, success=result.success, progress=result.progress, path=result.path, error=result.error,
                      wall_s=time.monotonic() - started, worker_pid=os.getpid(), retried=retried,
                      already_done=result.already_done, session_dropped=result.session_dropped)


def _record(spec: SweepSpec, task: Task, partial) -> TaskResult:
    from positronic_core.dataset.errors import DatasetError
    from positronic_core.runtime.drivers.timed import TimedDriver
    from positronic_core.runtime.run_statics import simulation_statics
    from positronic_core.runtime.sim_runtime import SimRuntime
    from positronic_core.wire.client import InferenceError, SessionDropped

    settings = spec.settings
    robot = _simulator(settings)
    try:
        policy = _policy(spec.source, task.model)
    except (InferenceError, LookupError, OSError, ValueError) as exc:
        return TaskResult(task, error=str(exc))
    statics = {**simulation_statics(settings.render_quality, (settings.camera_width, settings.camera_height)),
               MODEL_STATIC: task.model, SEED_STATIC: task.seed}
    with open(os.devnull, "w") as quiet:
        runtime = SimRuntime(robot, policy, output_dir=partial, policy_fps=settings.policy_fps,
                             cameras=settings.cameras, simulate_timeout=settings.simulate_timeout, seed=task.seed,
                             statics=statics, out=quiet)
        driver = TimedDriver(simulation_time=settings.simulation_time, num_iterations=1, task=settings.task)
        try:
            driver.run_episode(runtime)
        except (InferenceError, DatasetError) as exc:
            runtime.discard_running("stopped by an error")
            return TaskResult(task, error=str(exc), session_dropped=isinstance(exc, SessionDropped))
        finally:
            runtime.close()
            if spec.source.checkpoints_dir is None:
                policy.close()
    summary = runtime.completed[-1]
    target = placement.slot(spec.output_dir, task)
    if not placement.publish(summary.path, target):
        return placement.published(spec.output_dir, task) or TaskResult(task, error=f"{target} is taken")
    progress = summary.final_stacking if summary.final_stacking is not None else float(bool(summary.success))
    return TaskResult(task, success=summary.success, progress=min(1.0, max(0.0, progress)), path=str(target))


def _simulator(settings: EpisodeSettings) -> Any:
    robot = _simulators.get(settings)
    if robot is None:
        from positronic_core.sim.stack_cubes import StackCubesSim

        robot = StackCubesSim(camera_size=(settings.camera_width, settings.camera_height), cameras=settings.cameras,
                              render_quality=settings.render_quality)
        _simulators[settings] = robot
    return robot


def _policy(source: ModelSource, model: str) -> Policy:
    if source.server is not None:
        from positronic_core.policy.remote import RemotePolicy

        host, port = source.server
        return RemotePolicy(host, port, model_id=model, resize=source.resize, token=source.token,
                            connect_timeout=source.connect_timeout, infer_timeout=source.infer_timeout)
    key = (source.checkpoints_dir, model, source.codec, source.device)
    policy = _local_models.get(key)
    if policy is None:
        from positronic_core.policy.local_act import LocalActPolicy

        policy = LocalActPolicy(source.checkpoints_dir, checkpoint=model, codec=source.codec, device=source.device)
        _local_models[key] = policy
    return policy
