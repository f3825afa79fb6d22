"""The messages a recorder received just before its bag opened.

Every node learns of a new episode from the same `/episode/status` message, so the policy's first chunk can reach
the recorder before the status that opens its bag does (the recorder is simply the slower subscriber, under load).
A pre-roll keeps what arrived in the last moment while no bag was open; the bag opened for an episode then starts
with whatever of it was received at or after the episode's start, and nothing from before it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: How far back a bag may reach: far more than a status takes to arrive, small enough to hold camera frames.
WINDOW_NS = 1_000_000_000


@dataclass(frozen=True)
class Held:
    topic: str
    type_name: str
    data: bytes
    stamp_ns: int


class PreRoll:
    """Messages received while no bag is open, kept for `window_ns` of receive time."""

    def __init__(self, window_ns: int = WINDOW_NS) -> None:
        self.window_ns = window_ns
        self._held: deque[Held] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, topic: str, type_name: str, data: bytes, stamp_ns: int) -> None:
        self._held.append(Held(topic, type_name, data, stamp_ns))
        while self._held[0].stamp_ns < stamp_ns - self.window_ns:
            self._held.popleft()

    def take_since(self, start_ns: int) -> list[Held]:
        """What was received at or after `start_ns`, in arrival order; the pre-roll is empty afterwards."""
        taken = [held for held in self._held if held.stamp_ns >= start_ns]
        self._held.clear()
        return taken
