"""Episodes on the simulator: seeding, policy sessions, recording, and the line printed per episode.

Drivers decide *when* episodes start and stop (a timer, a keyboard, an evaluation console); this module does what
every driver needs in between, so the drivers stay small.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from positronic_core.dataset.writer import DatasetWriter, EpisodeWriter
from positronic_core.policy.base import Policy
from positronic_core.runtime.episode_loop import EpisodeLoop, EpisodeStats
from positronic_core.runtime.robot import Robot
from positronic_core.stacking_task import stacking_outcome


@dataclass(frozen=True)
class OperatorVerdict:
    """How a person judged an episode: `grade` is "success", "partial" or "failure", `label` their own word for it
    (an evaluation console outcome such as "Stalled")."""

    grade: str
    label: str


@dataclass
class EpisodeSummary:
    """One finished episode.

    Two verdicts can meet here, and the operator's wins: `operator` is a person's verdict, when one was given;
    `success` is the simulator's own (`stacking_task`), None when the task has none. `stopped_by_operator` marks an
    episode a person cut short without a verdict (keyboard `p`), which the simulator's verdict cannot judge.
    """

    index: int
    seed: int
    task: str
    saved: bool
    success: bool | None
    final_stacking: float | None
    duration_s: float
    stats: EpisodeStats
    path: Path | None
    operator: OperatorVerdict | None = None
    stopped_by_operator: bool = False

    @property
    def verdict(self) -> str | None:
        """The verdict that counts: "success", "partial", "failure", or None when the episode has none."""
        if self.operator is not None:
            return self.operator.grade
        if self.stopped_by_operator or self.success is None:
            return None
        return "success" if self.success else "failure"

    def line(self) -> str:
        auto = "n/a" if self.success is None else ("success" if self.success else "failure")
        if self.operator is not None:
            label = self.operator.label
            who = "operator" if label.lower() == self.operator.grade else f"operator: {label}"
            outcome = f"{self.operator.grade} ({who}; auto: {auto})"
        elif self.stopped_by_operator:
            outcome = f"no verdict (stopped by operator; auto: {auto})"
        else:
            outcome = auto
        stacking = "" if self.final_stacking is None else f" stacking={self.final_stacking:.2f}"
        where = f" -> {self.path}" if self.path else (" (not saved)" if not self.saved else "")
        return (f"episode {self.index} seed={self.seed}: {outcome}{stacking} duration={self.duration_s:.1f}s "
                f"idle_ticks={self.stats.idle_ticks} (after first action {self.stats.idle_ticks_after_first}) "
                f"requests={self.stats.requests} latency={self.stats.mean_latency_ms:.0f}ms{where}")


def flatten(prefix: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[name] = value
        elif isinstance(value, (list, tuple)):
            out[name] = [v if isinstance(v, (str, int, float, bool)) else str(v) for v in value]
        else:
            out[name] = str(value)
    return out


class RunningEpisode:
    def __init__(self, runtime: SimRuntime, index: int, seed: int, task: str, writer: EpisodeWriter | None,
                 statics: Mapping[str, Any]) -> None:
        self.runtime = runtime
        self.index = index
        self.seed = seed
        self.task = task
        self.writer = writer
        self.statics = dict(statics)
        self.session = runtime.policy.new_session({"task": task})
        self.loop = EpisodeLoop(runtime.robot, self.session, task=task, policy_fps=runtime.policy_fps,
                                cameras=runtime.cameras, wants_privileged_state=runtime.policy.wants_privileged_state,
                                simulate_timeout=runtime.simulate_timeout, sink=writer)

    @property
    def now(self) -> float:
        return self.loop.now

    def tick(self) -> None:
        self.loop.tick()

    def stop(self, save: bool = True, statics: Mapping[str, Any] | None = None, *,
             operator: OperatorVerdict | None = None, stopped_by_operator: bool = False) -> EpisodeSummary:
        """End the episode, and record it with `statics` if `save`. `operator` is a person's verdict (its statics
        are the caller's to give); `stopped_by_operator` marks an episode a person cut short without one."""
        stats = self.loop.finish()
        self.session.close()
        history = stats.stacking_history
        success = stacking_outcome(history) if history else None
        final = history[-1][1] if history else None
        path = None
        if self.writer is not None:
            if save:
                all_statics = {**self.statics, **self.runtime.policy_statics(), **(statics or {})}
                if success is not None:
                    all_statics["eval.auto_success"] = success
                    all_statics["eval.final_stacking_success"] = final
                if stopped_by_operator:
                    # Upstream Positronic's key for a run a person ended; its automatic verdict judged a cut-short run.
                    all_statics["eval.ended_by"] = "operator"
                all_statics["inference.idle_ticks"] = stats.idle_ticks
                all_statics["inference.requests"] = stats.requests
                for key, value in all_statics.items():
                    self.writer.set_static(key, value)
                path = self.writer.finish()
            else:
                self.writer.abort()
        summary = EpisodeSummary(self.index, self.seed, self.task, save, success, final, self.loop.now, stats, path,
                                 operator=operator, stopped_by_operator=stopped_by_operator)
        self.runtime.completed.append(summary)
        print(summary.line(), file=self.runtime.out, flush=True)
        return summary


class SimRuntime:
    def __init__(self, robot: Robot, policy: Policy, *, output_dir: Path | None, policy_fps: float = 15.0,
                 cameras: Sequence[str] = (), simulate_timeout: bool = False, seed: int = 0,
                 statics: Mapping[str, Any] | None = None, out: TextIO = sys.stdout) -> None:
        self.robot = robot
        self.policy = policy
        self.policy_fps = policy_fps
        self.cameras = list(cameras)
        self.simulate_timeout = simulate_timeout
        self.base_seed = seed
        self.statics = dict(statics or {})
        self.out = out
        self.completed: list[EpisodeSummary] = []
        self.writer = DatasetWriter(Path(output_dir)) if output_dir is not None else None
        if self.writer is not None:
            self.writer.preflight()
        self._started = 0

    def policy_statics(self) -> dict[str, Any]:
        # Read at stop: a remote policy learns its server's meta (checkpoint id, codec) only once a session opens.
        return {**flatten("inference.policy", self.policy.meta), "inference.policy_fps": self.policy_fps,
                "inference.simulate_timeout": self.simulate_timeout}

    def start(self, task: str, statics: Mapping[str, Any] | None = None) -> RunningEpisode:
        index = self._started
        seed = self.base_seed + index
        self._started += 1
        self.robot.reset(seed)
        writer = self.writer.new_episode() if self.writer is not None else None
        all_statics = {**self.statics, "task": task, "simulation.seed": seed, "simulation.iteration": index,
                       **(statics or {})}
        return RunningEpisode(self, index, seed, task, writer, all_statics)

    def summary(self) -> str:
        if not self.completed:
            return "no episodes run"
        saved = [s for s in self.completed if s.saved]
        lines = [f"{len(self.completed)} episode(s), {len(saved)} saved"]
        scored = [s for s in saved if s.verdict is not None]
        if scored:
            wins = sum(s.verdict == "success" for s in scored)
            partial = sum(s.verdict == "partial" for s in scored)
            judged = sum(s.operator is not None for s in scored)
            details = [f"{100.0 * wins / len(scored):.0f}%"]
            details += [f"{partial} partial"] if partial else []
            details += [f"{judged} judged by the operator"] if judged else []
            lines.append(f"success {wins}/{len(scored)} ({', '.join(details)})")
        unjudged = sum(s.verdict is None and s.stopped_by_operator for s in saved)
        if unjudged:
            lines.append(f"{unjudged} stopped by the operator without a verdict (score them in the review server)")
        idle = sum(s.stats.idle_ticks_after_first for s in self.completed)
        lines.append(f"idle ticks after first action: {idle}")
        return "; ".join(lines)
