"""The surface the control loop drives. The simulator implements it; a real arm's adapter will too, so drivers and
policies never ask which one they have."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from positronic_core.robot.commands import Action


class Robot(Protocol):
    def reset(self, seed: int) -> None: ...

    def apply(self, action: Action) -> None: ...

    def advance(self, seconds: float) -> None: ...

    def robot_state(self) -> dict[str, Any]: ...

    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]: ...

    def observers(self) -> dict[str, float]: ...

    def privileged_state(self) -> dict[str, np.ndarray]: ...


class SampleSink(Protocol):
    """Where an episode's samples go (the dataset episode writer)."""

    def append(self, name: str, value: Any, ts_ns: int) -> None: ...

    def set_static(self, key: str, value: Any) -> None: ...
