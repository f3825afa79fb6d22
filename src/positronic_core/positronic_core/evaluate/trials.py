"""Episodes as the comparison statistics see them: which model ran which seed, whether it succeeded, and how far
it got; and the pairing of two models' episodes on shared seeds.

A `Trial` is the whole input of `paired`, `model_comparison` and `sequential`, so a sweep can build them straight
from its task results, and a report builds them from review-table rows (`trials_from_rows`). Progress is partial
credit in [0, 1]: the item ratio when items were counted, else the simulator's final `stacking_success` score, else
1 / 0.5 / 0 for success / partial / failure (the row's `score`, as the review table shows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Trial:
    model: str  # the model (or checkpoint) label the episode is compared under
    seed: int  # scene seed; episodes of different models with the same (task, seed) are paired
    success: bool
    progress: float  # partial credit in [0, 1]
    task: str = ""
    order: int = 0  # when it finished (any increasing number): a rerun of a (task, seed) replaces earlier runs

    def __post_init__(self) -> None:
        if not 0.0 <= self.progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {self.progress} ({self.model}, seed {self.seed})")


def model_label(row: dict[str, Any]) -> str:
    """"model:checkpoint", or the model alone when it has no checkpoint (one server runs many checkpoints of one
    model type, so the checkpoint is what tells them apart)."""
    model, checkpoint = row.get("model") or "", row.get("checkpoint") or ""
    return f"{model}:{checkpoint}" if checkpoint else model


def trials_from_rows(rows: Iterable[dict[str, Any]]) -> list[Trial]:
    """The trials among review-table rows (`runs.row`): scored episodes with a seed and a model label."""
    trials = []
    for row in rows:
        label = model_label(row)
        if row.get("seed") is None or not row.get("outcome") or not label:
            continue
        progress = row.get("score")
        success = row["outcome"] == "success"
        trials.append(Trial(model=label, seed=int(row["seed"]), success=success,
                            progress=float(progress) if progress is not None else float(success),
                            task=row.get("task") or "",
                            order=row.get("created_ts_ns") or row.get("index") or 0))
    return trials


def models_of(trials: Iterable[Trial]) -> list[str]:
    return sorted({t.model for t in trials})


@dataclass
class Paired:
    """Two models' outcomes on the (task, seed) keys both ran, in key order."""

    a: str
    b: str
    keys: list[tuple[str, int]]
    success_a: np.ndarray  # bool, one per key
    success_b: np.ndarray
    progress_a: np.ndarray  # float in [0, 1]
    progress_b: np.ndarray
    unpaired_a: int = 0
    unpaired_b: int = 0
    duplicates_ignored: int = 0

    @property
    def n(self) -> int:
        return len(self.keys)

    def success_diff(self) -> np.ndarray:
        """Per pair: +1 only A succeeded, -1 only B, 0 both or neither."""
        return self.success_a.astype(float) - self.success_b.astype(float)

    def progress_diff(self) -> np.ndarray:
        return self.progress_a - self.progress_b


def latest_by_key(trials: Iterable[Trial]) -> tuple[dict[str, dict[tuple[str, int], Trial]], int]:
    """Per model, its latest trial per (task, seed); and how many earlier reruns were dropped."""
    by_model: dict[str, dict[tuple[str, int], Trial]] = {}
    duplicates = 0
    for trial in sorted(trials, key=lambda t: t.order):
        runs = by_model.setdefault(trial.model, {})
        key = (trial.task, trial.seed)
        duplicates += key in runs
        runs[key] = trial
    return by_model, duplicates


def pair_up(trials: Sequence[Trial], a: str, b: str) -> Paired:
    """Pair the episodes of models `a` and `b` on shared (task, seed) keys (the latest run of each key)."""
    by_model, duplicates = latest_by_key(t for t in trials if t.model in (a, b))
    missing = [m for m in (a, b) if m not in by_model]
    if missing:
        raise ValueError(f"no scored episodes with a seed for {', '.join(map(repr, missing))}")
    side_a, side_b = by_model[a], by_model[b]
    keys = sorted(set(side_a) & set(side_b))
    return Paired(
        a=a, b=b, keys=keys,
        success_a=np.array([side_a[k].success for k in keys], dtype=bool),
        success_b=np.array([side_b[k].success for k in keys], dtype=bool),
        progress_a=np.array([side_a[k].progress for k in keys], dtype=float),
        progress_b=np.array([side_b[k].progress for k in keys], dtype=float),
        unpaired_a=len(side_a) - len(keys), unpaired_b=len(side_b) - len(keys), duplicates_ignored=duplicates)
