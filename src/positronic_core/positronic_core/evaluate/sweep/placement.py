"""Where a sweep's episodes go, and how one gets there without ever being seen half-written.

`DIR/<model>/` is an ordinary Positronic dataset whose episode id is the seed: task (model, seed) owns exactly one
slot, `DIR/<model>/<block>/<seed>`, so resuming and retrying need no bookkeeping beyond the slot itself. A task
records into its own partial dataset, `DIR/<model>/.partial/seed-<seed>/` (hidden: dataset discovery and the
reader skip it), then renames the finished episode into its slot. A rename within one filesystem is atomic, so a
reader sees the whole episode or none; a worker killed at any point leaves at most a partial directory, which the
next attempt of that task (or the end of the sweep) deletes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from positronic_core.dataset import layout
from positronic_core.dataset.durable import fsync_dir, fsync_file
from positronic_core.dataset.statics import load_statics
from positronic_core.evaluate.sweep.plan import MODEL_STATIC, SEED_STATIC, Task, TaskResult, result_from_statics

PARTIAL_DIR = ".partial"
#: Written by the worker into its partial directory as it starts a task: which process holds it.
PID_FILE = "worker.pid"


class PlacementError(RuntimeError):
    """A task's slot holds something other than that task's finished episode."""


def model_dir(output_dir: Path, model: str) -> Path:
    return Path(output_dir) / model


def slot(output_dir: Path, task: Task) -> Path:
    return layout.episode_dir(model_dir(output_dir, task.model), task.seed)


def partial_root(output_dir: Path, task: Task) -> Path:
    return model_dir(output_dir, task.model) / PARTIAL_DIR / f"seed-{task.seed}"


def published(output_dir: Path, task: Task) -> TaskResult | None:
    """The task's episode if it is already in its slot; None if the slot is free."""
    path = slot(output_dir, task)
    if not path.is_dir():
        return None
    if not layout.is_finished(path):
        raise PlacementError(f"{path} holds an unfinished episode that no sweep wrote; move it away")
    statics = load_statics(path / layout.STATIC_FILE)
    if statics.get(MODEL_STATIC) != task.model or statics.get(SEED_STATIC) != task.seed:
        raise PlacementError(f"{path} holds an episode that is not {task} of a sweep; a sweep's model "
                             "directory must hold its episodes only")
    return result_from_statics(task, path, statics)


def begin(output_dir: Path, task: Task) -> tuple[Path, bool]:
    """A fresh partial dataset root for the task, and whether an earlier attempt had left one (it died)."""
    partial = partial_root(output_dir, task)
    retried = partial.exists()
    if retried:
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    (partial / PID_FILE).write_text(f"{os.getpid()}\n", encoding="utf-8")
    return partial, retried


def publish(episode: Path, target: Path) -> bool:
    """Renames the finished `episode` to `target`; False when `target` is already taken (an attempt that died after
    publishing, or a concurrent duplicate, got there first)."""
    meta_file = episode / layout.META_FILE
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["path"] = str(target.resolve())  # where it will live, not where it was recorded
    meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    fsync_file(meta_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(episode, target)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    fsync_dir(target.parent)
    return True


def discard(output_dir: Path, task: Task) -> None:
    shutil.rmtree(partial_root(output_dir, task), ignore_errors=True)


def clear_partials(output_dir: Path, models: list[str]) -> None:
    """Deletes what dead attempts left behind; only while no task of the sweep runs."""
    for model in models:
        shutil.rmtree(model_dir(output_dir, model) / PARTIAL_DIR, ignore_errors=True)
