"""An evaluation session: an operator starts each episode, stops it with an outcome, and submits a verdict.

    WAITING --Start--> RUNNING --outcome button, or the time cap--> REVIEWING --Submit or Cancel--> WAITING

`EvalSession` is that state machine in plain Python over a `SimRuntime`, free of any GUI, so it is tested without a
display. The DearPyGui console (`positronic_core.runtime.gui.eval_console`) maps its buttons and fields onto these
methods, and the `eval_ui` driver (`positronic_core.runtime.drivers.eval_ui`) builds a session and opens the console.

- While RUNNING, the episode is paced to the session's clock (the wall clock unless a test injects one), at most one
  tick per call of `advance()`. When the simulator cannot keep up, the episode runs slower than real time rather
  than catching up in bursts.
- The time cap is simulated seconds: the first tick at or past it stops the episode with outcome "Ran out of time".
- A stopped episode stays open (not yet written) while the operator reviews it. Submit saves it with the statics
  `eval.outcome`, `eval.total_items`, `eval.successful_items`, `eval.notes`, `eval.duration` (simulated seconds from
  Start to stop) and `eval.time_cap`, and the episode's summary line shows the operator's verdict beside the
  simulator's (`sim_runtime.EpisodeSummary`); Cancel discards it and nothing is left on disk. Quitting with an
  episode not yet submitted discards it too: an evaluation episode without a verdict is not a result.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from positronic_core.runs.outcomes import auto_outcome
from positronic_core.runtime.sim_runtime import EpisodeSummary, OperatorVerdict, RunningEpisode, SimRuntime

SUCCESS = "Success"
PARTIAL = "Partial"
FAIL = "Fail"
STALLED = "Stalled"
RAN_OUT_OF_TIME = "Ran out of time"
SAFETY = "Safety"
SYSTEM = "System"
#: Every outcome a verdict can carry, in the order the console lists them.
OUTCOMES = (SUCCESS, PARTIAL, FAIL, STALLED, RAN_OUT_OF_TIME, SAFETY, SYSTEM)
#: Outcomes the operator stops a running episode with (the time cap supplies "Ran out of time").
STOP_OUTCOMES = tuple(outcome for outcome in OUTCOMES if outcome != RAN_OUT_OF_TIME)


class EvalState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    REVIEWING = "reviewing"


class EvalError(ValueError):
    """An operator action that is not possible now (wrong state, invalid numbers); the console shows the message."""


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvalError(f"{name} must be a whole number, got {value!r}")
    return value


@dataclass(frozen=True)
class Verdict:
    """What the operator submits for a reviewed episode. Invalid values raise EvalError at construction."""

    outcome: str
    total_items: int = 1
    successful_items: int = 0
    notes: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise EvalError(f"unknown outcome {self.outcome!r}; choose one of {', '.join(OUTCOMES)}")
        total = _count("total items", self.total_items)
        successful = _count("successful items", self.successful_items)
        if total < 1:
            raise EvalError(f"total items must be at least 1, got {total}")
        if not 0 <= successful <= total:
            raise EvalError(f"successful items must be between 0 and the total ({total}), got {successful}")
        if not isinstance(self.notes, str):
            raise EvalError(f"notes must be text, got {type(self.notes).__name__}")

    @property
    def grade(self) -> str:
        """How reports count this verdict: "success", "partial" or "failure", by the rule that reads recorded
        statics back (`runs.outcomes`): items counted short of the total make a Success partial, and so do items
        counted under a failure outcome."""
        return auto_outcome(self.statics())[0]

    def statics(self) -> dict[str, Any]:
        return {"eval.outcome": self.outcome, "eval.total_items": self.total_items,
                "eval.successful_items": self.successful_items, "eval.notes": self.notes.strip()}


def suggested_successful_items(outcome: str, total_items: int) -> int:
    """The successful-items count the console preselects when a stop moves to review (the operator may change it)."""
    return total_items if outcome == SUCCESS else 0


class EvalSession:
    """The console's state machine over a runtime; every operator action is a method that checks the state first.

    `version` increases at every state change, so a GUI can tell when to re-sync its widgets.
    """

    def __init__(self, runtime: SimRuntime, *, time_cap: float = 60.0, realtime: bool = True,
                 clock: Callable[[], float] = time.monotonic, max_lag: float = 0.2) -> None:
        if not time_cap > 0:
            raise ValueError(f"time_cap must be positive, got {time_cap}")
        self.runtime = runtime
        self.time_cap = float(time_cap)
        self.realtime = bool(realtime)
        self.clock = clock
        self.max_lag = float(max_lag)
        self.state = EvalState.WAITING
        self.episode: RunningEpisode | None = None
        #: The outcome the episode was stopped with (REVIEWING), preselected for the verdict.
        self.outcome: str | None = None
        #: Simulated seconds from Start to stop (REVIEWING).
        self.duration = 0.0
        #: The summary of the last episode that was submitted or cancelled.
        self.last: EpisodeSummary | None = None
        self.version = 0
        self._origin = 0.0

    def _require(self, state: EvalState, action: str) -> None:
        if self.state is not state:
            raise EvalError(f"cannot {action} while {self.state.value}; that needs {state.value}")

    def _enter(self, state: EvalState) -> None:
        self.state = state
        self.version += 1

    def start(self, task: str) -> RunningEpisode:
        self._require(EvalState.WAITING, "start an episode")
        task = (task or "").strip()
        if not task:
            raise EvalError("choose a task, or type one for Other, before pressing Start")
        self.episode = self.runtime.start(task)
        self.outcome = None
        self.duration = 0.0
        self._origin = self.clock()
        self._enter(EvalState.RUNNING)
        return self.episode

    def advance(self) -> float:
        """Tick the running episode if a tick is due; return seconds until the next one (inf when not running)."""
        if self.state is not EvalState.RUNNING or self.episode is None:
            return math.inf
        episode = self.episode
        if self.realtime:
            elapsed = self.clock() - self._origin
            if episode.now > elapsed + 1e-6:
                return episode.now - elapsed
        due = episode.now
        episode.tick()
        if episode.now >= self.time_cap - 1e-9:
            self.stop(RAN_OUT_OF_TIME)
            return math.inf
        if not self.realtime:
            return 0.0
        lag = (self.clock() - self._origin) - due
        if lag > self.max_lag:
            # The simulator is slower than the wall clock: let the episode fall behind instead of bursting ticks.
            self._origin += lag
        return max(0.0, episode.now - (self.clock() - self._origin))

    def stop(self, outcome: str) -> None:
        self._require(EvalState.RUNNING, f"stop with {outcome!r}")
        if outcome not in OUTCOMES:
            raise EvalError(f"unknown outcome {outcome!r}; choose one of {', '.join(OUTCOMES)}")
        self.outcome = outcome
        self.duration = self.episode.now
        self._enter(EvalState.REVIEWING)

    def submit(self, verdict: Verdict) -> EpisodeSummary:
        """Save the reviewed episode with the verdict's statics; back to WAITING."""
        self._require(EvalState.REVIEWING, "submit")
        statics = {**verdict.statics(), "eval.duration": round(self.duration, 6), "eval.time_cap": self.time_cap}
        return self._finish(save=True, statics=statics, operator=OperatorVerdict(verdict.grade, verdict.outcome))

    def cancel(self) -> EpisodeSummary:
        """Discard the reviewed episode; back to WAITING."""
        self._require(EvalState.REVIEWING, "cancel")
        return self._finish(save=False, stopped_by_operator=True)

    def _finish(self, **stop: Any) -> EpisodeSummary:
        episode, self.episode = self.episode, None
        try:
            self.last = episode.stop(**stop)
        finally:
            self.outcome = None
            self._enter(EvalState.WAITING)
        return self.last

    def close(self) -> EpisodeSummary | None:
        """Discard an episode that was started but not submitted (quitting mid-episode); None if there was none."""
        if self.episode is None:
            return None
        return self._finish(save=False, stopped_by_operator=True)
