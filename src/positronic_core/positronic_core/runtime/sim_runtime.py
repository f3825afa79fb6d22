"""Episodes on the simulator: seeding, policy sessions, recording, progress, and the line printed per episode.

Drivers decide *when* episodes start and stop (a timer, a keyboard, an evaluation console); this module does what
every driver needs in between, on the one control loop (`runtime.control_loop`) in simulated time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from positronic_core.dataset.writer import DatasetWriter, EpisodeWriter
from positronic_core.policy.base import Policy
from positronic_core.runtime.clocks import VirtualClock
from positronic_core.runtime.control_loop import ControlLoop, LoopStats
from positronic_core.runtime.episode_lifecycle import EpisodeLifecycle
from positronic_core.runtime.inference_executor import InlineExecutor, charge_wall_time, no_delay
from positronic_core.runtime.progress import ProgressLine
from positronic_core.runtime.robot import SimulatedRobot
from positronic_core.runtime.run_statics import policy_statics
from positronic_core.stacking_task import stacking_outcome
from positronic_core.wording import plural


@dataclass(frozen=True)
class OperatorVerdict:
    """How a person judged an episode: `grade` is "success", "partial" or "failure", `label` their own word for it
    (an evaluation console outcome such as "Stalled")."""

    grade: str
    label: str


@dataclass
class EpisodeSummary:
    """One episode that ended.

    Two verdicts can meet here, and the operator's wins: `operator` is a person's verdict, when one was given;
    `success` is the simulator's own (`stacking_task`), None when the task has none. `stopped_by_operator` marks an
    episode a person cut short without a verdict (keyboard `p`), which the simulator's verdict cannot judge.
    `interrupted` says why an episode was cut short and thrown away (Ctrl-C, a failed session), "" otherwise.
    """

    index: int
    seed: int
    task: str
    saved: bool
    success: bool | None
    final_stacking: float | None
    duration_s: float
    stats: LoopStats
    path: Path | None
    operator: OperatorVerdict | None = None
    stopped_by_operator: bool = False
    interrupted: str = ""

    @property
    def verdict(self) -> str | None:
        """The verdict that counts: "success", "partial", "failure", or None when the episode has none."""
        if self.interrupted:
            return None
        if self.operator is not None:
            return self.operator.grade
        if self.stopped_by_operator or self.success is None:
            return None
        return "success" if self.success else "failure"

    def line(self) -> str:
        head = f"episode {self.index} seed={self.seed}:"
        if self.interrupted:
            return f"{head} {self.interrupted} at {self.duration_s:.1f}s, discarded (nothing recorded)"
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
        return (f"{head} {outcome}{stacking} duration={self.duration_s:.1f}s "
                f"idle_ticks={self.stats.idle_ticks} (after first action {self.stats.idle_ticks_after_first}) "
                f"requests={self.stats.requests} latency={self.stats.mean_latency_ms:.0f}ms{where}")


class RunningEpisode:
    def __init__(self, runtime: SimRuntime, index: int, seed: int, task: str, writer: EpisodeWriter | None,
                 statics: Mapping[str, Any], duration_s: float | None, total: int | None) -> None:
        self.runtime = runtime
        self.index = index
        self.seed = seed
        self.task = task
        self.writer = writer
        self.statics = dict(statics)
        self.duration_s = duration_s
        self.total = total
        self.stacking_history: list[tuple[float, float]] = []

    @property
    def loop(self) -> ControlLoop:
        return self.runtime.loop

    @property
    def now(self) -> float:
        return self.runtime.clock.now()

    def tick(self) -> None:
        runtime = self.runtime
        now = self.now
        runtime.loop.tick()
        stacking = runtime.loop.last_observers.get("stacking_success")
        if stacking is not None:
            self.stacking_history.append((now, float(stacking)))
        runtime.robot.advance(runtime.clock.tick_s)
        runtime.clock.step()
        if self.duration_s is not None:
            runtime.progress.update(self.progress_text())

    def progress_text(self) -> str:
        stats = self.loop.stats
        of_total = f"/{self.total}" if self.total else ""
        of_duration = f"/{self.duration_s:.0f}" if self.duration_s else ""
        wall = time.monotonic() - self.runtime.started_wall
        return (f"episode {self.index + 1}{of_total} seed={self.seed}  sim {self.now:.1f}{of_duration} s  "
                f"requests {stats.requests}  idle ticks {stats.idle_ticks}  ({wall:.0f} s elapsed)")

    def stop(self, save: bool = True, statics: Mapping[str, Any] | None = None, *,
             operator: OperatorVerdict | None = None, stopped_by_operator: bool = False) -> EpisodeSummary:
        """End the episode, and record it with `statics` if `save`. `operator` is a person's verdict (its statics
        are the caller's to give); `stopped_by_operator` marks an episode a person cut short without one."""
        stats = self.runtime.loop.stop_episode()
        history = self.stacking_history
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
        summary = EpisodeSummary(self.index, self.seed, self.task, save, success, final, self.now, stats, path,
                                 operator=operator, stopped_by_operator=stopped_by_operator)
        return self.runtime.finished(summary)

    def discard(self, reason: str) -> EpisodeSummary:
        """Ends the episode early and throws its recording away, so no reader, report or review table counts a
        half-made episode."""
        stats = self.runtime.loop.stop_episode()
        if self.writer is not None:
            self.writer.abort()
        summary = EpisodeSummary(self.index, self.seed, self.task, False, None, None, self.now, stats, None,
                                 interrupted=reason)
        return self.runtime.finished(summary)


class SimRuntime:
    def __init__(self, robot: SimulatedRobot, policy: Policy, *, output_dir: Path | None, policy_fps: float = 15.0,
                 cameras: Sequence[str] = (), simulate_timeout: bool = False, seed: int = 0,
                 statics: Mapping[str, Any] | None = None, out: TextIO = sys.stdout) -> None:
        self.robot = robot
        self.policy = policy
        self.policy_fps = policy_fps
        self.cameras = list(cameras)
        self.simulate_timeout = simulate_timeout
        self.statics = dict(statics or {})
        self.out = out
        self.progress = ProgressLine(out)
        self.completed: list[EpisodeSummary] = []
        self.writer = DatasetWriter(Path(output_dir)) if output_dir is not None else None
        if self.writer is not None:
            self.writer.preflight()
        self.clock = VirtualClock(1.0 / policy_fps)
        self.loop = ControlLoop(robot, policy, clock=self.clock,
                                executor=InlineExecutor(self.clock, charge_wall_time if simulate_timeout else no_delay),
                                policy_fps=policy_fps, cameras=self.cameras, on_error="raise")
        self.lifecycle = EpisodeLifecycle(first_seed=seed)
        self.current: RunningEpisode | None = None
        self.started_wall = time.monotonic()

    def policy_statics(self) -> dict[str, Any]:
        # Read at stop: a remote policy learns its server's meta (checkpoint id, codec) only once a session opens.
        statics = policy_statics(self.policy.meta, self.policy_fps)
        return {**statics, "inference.simulate_timeout": self.simulate_timeout}

    def start(self, task: str, statics: Mapping[str, Any] | None = None, *, duration_s: float | None = None,
              total: int | None = None) -> RunningEpisode:
        """Resets the scene and opens a policy session, then creates the episode's recording: a session the
        policy refuses raises before anything is written. `duration_s` and `total` only feed the progress line,
        which timed runs show."""
        episode = self.lifecycle.start(0.0, task)
        index, seed = episode.index, episode.seed
        try:
            self.robot.reset(seed)
            self.clock.reset()
            self.loop.start_episode(task)
            writer = self.writer.new_episode() if self.writer is not None else None
        except BaseException:
            self.loop.stop_episode()  # a session that opened before the recording failed is closed again
            self.lifecycle.abandon()
            raise
        self.loop.sink = writer
        all_statics = {**self.statics, "task": task, "simulation.seed": seed, "simulation.iteration": index,
                       **(statics or {})}
        self.current = RunningEpisode(self, index, seed, task, writer, all_statics, duration_s, total)
        return self.current

    def finished(self, summary: EpisodeSummary) -> EpisodeSummary:
        self.lifecycle.stop(self.clock.now(), save=summary.saved)
        self.current = None
        self.completed.append(summary)
        self.progress.clear()
        print(summary.line(), file=self.out, flush=True)
        return summary

    def discard_running(self, reason: str) -> EpisodeSummary | None:
        """Throws away the episode in progress, if any (see `RunningEpisode.discard`)."""
        episode = self.current
        if episode is None:
            return None
        return episode.discard(reason)

    def close(self) -> None:
        self.loop.close()

    def summary(self) -> str:
        if not self.completed:
            return "no episodes run"
        ran = [s for s in self.completed if not s.interrupted]
        lines = [plural(len(ran), "episode")]
        if self.writer is None:
            lines[0] += " (not recorded: no --output_dir)"
        else:
            lines[0] += f", {sum(s.path is not None for s in ran)} recorded"
        discarded = [s for s in self.completed if s.interrupted]
        if discarded:
            lines.append(f"{plural(len(discarded), 'interrupted episode')} discarded")
        saved = [s for s in ran if s.saved]
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
        idle = sum(s.stats.idle_ticks_after_first for s in ran)
        lines.append(f"idle ticks after first action: {idle}")
        return "; ".join(lines)
