"""The policy contract shared by every runtime.

Invariants (see also `positronic_core.geometry`):
- An observation is a flat map with Positronic's canonical keys: `robot_state.q` (7), `robot_state.dq` (7),
  `robot_state.ee_pose` (7: x, y, z, qw, qx, qy, qz), `grip` (0 = open), `image.<camera>` (uint8 H x W x 3) and
  `task`. Simulated runs may add privileged `sim.*` keys, which only local policies that ask for them receive.
- One session per episode: opening a session resets the policy's per-episode state.
- `infer` returns a chunk of actions; each action's `timestamp` (seconds relative to when the chunk was asked for)
  says when it is due. A chunk without timestamps is played one action per control tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from positronic_core.robot.commands import Action


class PolicySession(Protocol):
    def infer(self, observation: Mapping[str, Any]) -> list[Action]: ...

    def close(self) -> None: ...


class Policy(Protocol):
    #: Whether observations should carry the simulator's privileged `sim.*` keys.
    wants_privileged_state: bool

    @property
    def meta(self) -> dict[str, Any]:
        """Identity recorded as `inference.policy.*` statics (type, host, model id, checkpoint id, codec, ...)."""
        ...

    def new_session(self, context: Mapping[str, Any]) -> PolicySession: ...

    def close(self) -> None: ...
