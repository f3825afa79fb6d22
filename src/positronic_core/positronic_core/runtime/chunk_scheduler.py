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
    def __init__(self, tick_s: float, slack_ticks: int = 1, latency_window: int = 5) -> None:
        """`slack_ticks`: extra ticks of plan kept in hand when requesting (a live robot collects a reply only at
        its next tick, and latency jitters, so it wants 2); the latency estimate is the worst of the last
        `latency_window` requests, because one stall costs more than an early request."""
        self.tick_s = tick_s
        self.slack_s = slack_ticks * tick_s
        self._tolerance = tick_s / 2
        self._plan: deque[PlannedAction] = deque()
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self.dropped = 0

    @property
    def latency_estimate_s(self) -> float:
        return max(self._latencies, default=0.0)

    def observe_latency(self, seconds: float) -> None:
        self._latencies.append(seconds)

    @property
    def queue_depth(self) -> int:
        """Planned actions not yet played."""
        return len(self._plan)

    def plan_end(self) -> float | None:
        return self._plan[-1].due if self._plan else None

    def should_request(self, now: float) -> bool:
        """True when the plan will run out before a request sent now is expected back (plus the slack)."""
        end = self.plan_end()
        return end is None or end < now + self.latency_estimate_s + self.slack_s

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
        while len(self._plan) >= 2 and self._plan[1].due <= now + self._tolerance:
            self._plan.popleft()
            self.dropped += 1

    def pop_due(self, now: float) -> Action | None:
        """The action to execute at `now`, or None when nothing new is due (the arm holds its last target).

        An action counts as due from half a tick before its time: on a live robot the control ticks and a chunk's
        timestamps are on grids with an arbitrary phase, and rounding to the nearest tick keeps one action per
        tick instead of alternately dropping one and idling.
        """
        self._drop_stale(now)
        if self._plan and self._plan[0].due <= now + self._tolerance:
            return self._plan.popleft().action
        return None

    def clear(self) -> None:
        self._plan.clear()
