"""The surface the control loop drives. The simulator implements it, and so does the ROS adapter over topics (a
simulated or a real arm), so drivers and policies never ask which one they have."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from positronic_core.robot.commands import Action


class Robot(Protocol):
    def apply(self, action: Action) -> None: ...

    def robot_state(self) -> dict[str, Any] | None:
        """`robot_state.q|dq|ee_pose` and `grip`; None while a live robot has not reported them yet."""
        ...

    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The latest frame of each camera; a live robot leaves out cameras that have sent nothing yet."""
        ...

    def observers(self) -> dict[str, float]:
        """Live task scores (the simulator's `box_distance`, `stacking_success`); empty where there are none."""
        ...

    def privileged_state(self) -> dict[str, np.ndarray] | None:
        """Simulator-only `sim.*` keys for policies that ask for them; None while not available."""
        ...


class SimulatedRobot(Robot, Protocol):
    """A robot whose time the runtime owns: it is reset per episode and stepped between ticks."""

    def reset(self, seed: int) -> None: ...

    def advance(self, seconds: float) -> None: ...


class SampleSink(Protocol):
    """Where an episode's samples go (the dataset episode writer)."""

    def append(self, name: str, value: Any, ts_ns: int) -> None: ...

    def set_static(self, key: str, value: Any) -> None: ...
