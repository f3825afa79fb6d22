"""A parallel gripper driven by open/close goals (the Franka Hand through franka_gripper's `move` and `grasp`
actions), seen by the control loop as one number: grip 0 = open, 1 = closed, as target and as state.

A policy streams target grips at the control rate; a goal goes out only when the target crosses the threshold,
because each franka_gripper goal preempts the one before and a stream of them would keep the fingers from ever
finishing a grasp.
"""

from __future__ import annotations

from typing import Literal

Goal = Literal["open", "close"]


def grip_from_width(width_m: float, max_width_m: float) -> float:
    """The grip of a gripper whose fingers are `width_m` apart (both fingers together), in [0, 1]."""
    if max_width_m <= 0:
        raise ValueError(f"max width must be positive, got {max_width_m}")
    return min(max(1.0 - width_m / max_width_m, 0.0), 1.0)


class GripLatch:
    """Turns a stream of target grips into open/close goals, one per crossing of `threshold`."""

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be inside (0, 1), got {threshold}")
        self.threshold = threshold
        self.current: Goal | None = None

    def goal(self, target_grip: float) -> Goal | None:
        """The goal to send for this target (None: the last goal still stands)."""
        wanted: Goal = "close" if target_grip >= self.threshold else "open"
        if wanted == self.current:
            return None
        self.current = wanted
        return wanted
