"""Statics an in-process run records from its live state, recomputed from a converted bag's signals, so that an
episode recorded through ROS says the same about itself: the simulator's verdict (`eval.auto_success`,
`eval.final_stacking_success`, by `stacking_task`'s rule) and the inference counts (`inference.requests`,
`inference.idle_ticks`, from the policy node's timeline)."""

from __future__ import annotations

from typing import Any

from positronic_core.stacking_task import stacking_outcome

NS = 1_000_000_000


class DerivedStatics:
    def __init__(self) -> None:
        self._stacking: list[tuple[float, float]] = []
        self._requests = 0
        self._idle_ticks = 0
        self._ticks = 0

    def add(self, signal: str, value: Any, ts_ns: int) -> None:
        if signal == "stacking_success":
            self._stacking.append((ts_ns / NS, float(value)))
        elif signal == "inference.chunk_size":
            self._requests += 1
        elif signal == "inference.idle":
            self._ticks += 1
            self._idle_ticks += int(value)

    def statics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._stacking:
            out["eval.auto_success"] = stacking_outcome(self._stacking)
            out["eval.final_stacking_success"] = self._stacking[-1][1]
        if self._ticks:
            out["inference.requests"] = self._requests
            out["inference.idle_ticks"] = self._idle_ticks
        return out
