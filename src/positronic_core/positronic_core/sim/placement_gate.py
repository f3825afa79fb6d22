"""Which cube poses to believe after a world reset made by another process (mujoco_ros2_control's `reset_world`).

The reset answers before its overrides show in the poses it publishes: a message or two after it can still carry
the keyframe's (or the last episode's) cube positions under a newer stamp. Taken as the episode's start, such a
pose made `stacking_success` score the red cube as pushed 6 cm off its start in a correctly stacked episode, and
it would hand a policy the wrong cubes. After `expect`, `check` refuses poses until every cube is at its
placement, or until the bound runs out (a cube knocked at once must not freeze the scene).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import numpy as np

from positronic_core.sim.placement import Placement

#: How far (m, horizontally) a cube may be from its placement and still count as placed: the cubes drop 0.1 mm onto
#: the table, so they land where they were put.
PLACED_WITHIN_M = 0.005


class Poses(enum.Enum):
    STALE = "stale"  # from before the reset: ignore
    FIRST = "first"  # the first after the reset: the episode starts from these
    CURRENT = "current"


class PlacementGate:
    def __init__(self) -> None:
        self._expected: dict[str, tuple[float, float]] | None = None
        self._bound_ns = 0
        self._until_ns: int | None = None

    def expect(self, placements: Mapping[str, Placement], bound_ns: int) -> None:
        """A reset placed the cubes (body name -> placement); poses count again once they show there, or `bound_ns`
        of simulated time after the first pose that comes in. Counted from that pose, not from the clock: a node
        that has just started may not have heard the clock yet when the first reset comes."""
        self._expected = {name: (p.x, p.y) for name, p in placements.items()}
        self._bound_ns = bound_ns
        self._until_ns = None

    def check(self, positions: Mapping[str, np.ndarray], stamp_ns: int) -> Poses:
        """What cube `positions` (body name -> x, y, z) measured at `stamp_ns` are."""
        if self._expected is None:
            return Poses.CURRENT
        if self._until_ns is None:
            self._until_ns = stamp_ns + self._bound_ns
        placed = all(name in positions and np.hypot(positions[name][0] - x, positions[name][1] - y) <= PLACED_WITHIN_M
                     for name, (x, y) in self._expected.items())
        if not placed and stamp_ns < self._until_ns:
            return Poses.STALE
        self._expected = None
        return Poses.FIRST
