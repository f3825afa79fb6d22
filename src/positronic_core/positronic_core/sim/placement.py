"""Random cube placement per episode, drawn from a seeded generator so an episode can be replayed exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Upstream Positronic's stack-cubes ranges (in front of the robot, within the Panda's comfortable reach).
X_RANGE = (0.31, 0.69)
Y_RANGE = (-0.28, 0.28)
#: Cubes get a random yaw so a policy has to align its grasp; a square cube looks the same every quarter turn.
YAW_RANGE = (-np.pi / 4, np.pi / 4)
#: Centre-to-centre clearance: room for an open Robotiq finger (85 mm stroke) beside either cube.
MIN_SEPARATION = 0.1


@dataclass(frozen=True)
class Placement:
    x: float
    y: float
    yaw: float

    def quat_wxyz(self) -> np.ndarray:
        return np.array([np.cos(self.yaw / 2), 0.0, 0.0, np.sin(self.yaw / 2)])


def place_cubes(rng: np.random.Generator, count: int = 2) -> list[Placement]:
    """`count` placements, each uniform in the ranges and at least MIN_SEPARATION from the others."""
    placed: list[Placement] = []
    while len(placed) < count:
        x, y = rng.uniform(*X_RANGE), rng.uniform(*Y_RANGE)
        yaw = rng.uniform(*YAW_RANGE)
        if all(np.hypot(x - p.x, y - p.y) >= MIN_SEPARATION for p in placed):
            placed.append(Placement(float(x), float(y), float(yaw)))
    return placed
