"""When to ask the policy for the next chunk, and which action is due now.

Upstream plays a chunk to its end and only then asks again, so the robot idles for one inference latency between
chunks. Here every action has an absolute due time (request time + its timestamp), the next request goes out while
the current plan still covers the expected latency, a new chunk replaces the unplayed tail of the old one, and
actions whose time has passed are dropped rather than played late.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from positronic_core.robot.commands import Action


@dataclass(frozen=True)
class PlannedAction:
    due: float
    action: Action


class ChunkScheduler:
    def __init__(self, tick_s: float, latency_smoothing: float = 0.3) -> None:
        self.tick_s = tick_s
        self._plan: deque[PlannedAction] = deque()
        self._latency_s: float | None = None
        self._smoothing = latency_smoothing
        self.dropped = 0

    @property
    def latency_estimate_s(self) -> float:
        return 0.0 if self._latency_s is None else self._latency_s

    def observe_latency(self, seconds: float) -> None:
        """Feeds a measured request latency (exponentially smoothed, but never below the latest sample's half)."""
        if self._latency_s is None:
            self._latency_s = seconds
        else:
            self._latency_s = max((1 - self._smoothing) * self._latency_s + self._smoothing * seconds, seconds / 2)

    def plan_end(self) -> float | None:
        return self._plan[-1].due if self._plan else None

    def should_request(self, now: float) -> bool:
        """True when the plan will run out before a request sent now is expected back (plus one tick of slack)."""
        end = self.plan_end()
        return end is None or end < now + self.latency_estimate_s + self.tick_s

    def accept(self, actions: list[Action], requested_at: float, now: float) -> None:
        """Replaces the plan with a chunk asked for at `requested_at`; untimestamped actions are a tick apart."""
        plan = deque()
        for i, action in enumerate(actions):
            offset = action.timestamp if action.timestamp is not None else i * self.tick_s
            plan.append(PlannedAction(requested_at + offset, action))
        self._plan = plan
        self._drop_stale(now)

    def _drop_stale(self, now: float) -> None:
        # Keep the newest action already due (it is what should be executing now); drop everything older.
        eps = 1e-9
        while len(self._plan) >= 2 and self._plan[1].due <= now + eps:
            self._plan.popleft()
            self.dropped += 1

    def pop_due(self, now: float) -> Action | None:
        """The action to execute at `now`, or None when nothing new is due (the arm holds its last target)."""
        self._drop_stale(now)
        if self._plan and self._plan[0].due <= now + 1e-9:
            return self._plan.popleft().action
        return None

    def clear(self) -> None:
        self._plan.clear()
