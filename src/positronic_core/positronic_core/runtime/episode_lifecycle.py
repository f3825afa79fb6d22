"""Episodes' start/stop rules, shared by the in-process drivers and the ROS episode driver node.

One episode runs at a time; each gets the next index and the next seed (the first seed, then one more each time,
unless a start names its own seed, after which the sequence continues from it); a start's metadata must be a JSON
object; a stop says whether the episode is kept and may carry the operator's outcome and notes. In timed mode,
`iterations` episodes of `duration_s` run back to back. Time comes from the caller (simulated or ROS time), so the
rules are the same whatever clock drives them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from positronic_core.stacking_task import TASK

#: An episode has run its course this close to its duration (a tick grid rarely lands on it exactly).
DURATION_TOLERANCE_S = 1e-9


class LifecycleError(ValueError):
    """A start or stop that the rules refuse; the message says why, for a service reply or a terminal."""


@dataclass(frozen=True)
class TimedPlan:
    duration_s: float
    iterations: int

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")

    def over(self, elapsed_s: float) -> bool:
        return elapsed_s >= self.duration_s - DURATION_TOLERANCE_S


@dataclass
class Episode:
    index: int
    seed: int
    task: str
    started_at: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndedEpisode:
    episode: Episode
    elapsed_s: float
    saved: bool
    outcome: str = ""
    notes: str = ""


def parse_metadata(metadata: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A start's metadata: a JSON object (as text, or already a mapping); empty means none."""
    if metadata is None or metadata == "":
        return {}
    if isinstance(metadata, Mapping):
        return dict(metadata)
    try:
        value = json.loads(metadata)
    except ValueError as e:
        raise LifecycleError(f"metadata must be a JSON object: {e}") from None
    if not isinstance(value, dict):
        raise LifecycleError(f"metadata must be a JSON object, got {type(value).__name__}")
    return value


class EpisodeLifecycle:
    def __init__(self, *, first_seed: int = 0, task: str = TASK, timed: TimedPlan | None = None) -> None:
        if first_seed < 0:
            raise ValueError(f"seed must be at least 0, got {first_seed}")
        self.next_seed = first_seed
        self.default_task = task
        self.timed = timed
        self.current: Episode | None = None
        self.last_index = -1
        self.completed = 0

    @property
    def running(self) -> bool:
        return self.current is not None

    def start(self, now: float, task: str = "", metadata: str | Mapping[str, Any] | None = None,
              seed: int = -1) -> Episode:
        """The next episode; `seed` < 0 takes the next in the sequence. Raises LifecycleError if one is running
        or the metadata is not a JSON object."""
        if self.current is not None:
            raise LifecycleError(f"episode {self.current.index} is running; stop it first")
        parsed = parse_metadata(metadata)
        seed = seed if seed >= 0 else self.next_seed
        self.next_seed = seed + 1
        self.last_index += 1
        self.current = Episode(self.last_index, seed, task or self.default_task, now, parsed)
        return self.current

    def abandon(self) -> None:
        """Forgets the episode just started because it could not be set up (scene reset or policy session
        failed): the next start gets its index and seed again."""
        if self.current is not None:
            self.last_index -= 1
            self.next_seed = self.current.seed
            self.current = None

    def elapsed(self, now: float) -> float:
        return 0.0 if self.current is None else now - self.current.started_at

    def stop(self, now: float, save: bool = True, outcome: str = "", notes: str = "") -> EndedEpisode:
        if self.current is None:
            raise LifecycleError("no episode is running")
        ended = EndedEpisode(self.current, self.elapsed(now), bool(save), outcome, notes)
        self.current = None
        self.completed += 1
        return ended

    def timed_step(self, now: float) -> Literal["start", "stop"] | None:
        """In timed mode, what is due at `now`: stop the episode that has run its duration, or start the next
        one while iterations remain; None when nothing is (or when not in timed mode)."""
        if self.timed is None:
            return None
        if self.current is not None:
            return "stop" if self.timed.over(self.elapsed(now)) else None
        return "start" if self.completed < self.timed.iterations else None

    @property
    def finished(self) -> bool:
        """Timed mode has run all its iterations."""
        return self.timed is not None and self.current is None and self.completed >= self.timed.iterations
