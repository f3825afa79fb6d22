"""Linear velocities of bodies reported by another simulator, filled in where it reports none.

mujoco_ros2_control's free-joint state plugin (the overlay's build) reports NaN twists: it reads `qvel` from the
control snapshot that mujoco_ros2_control fills with NaN before its plugins run (a plugin writes a finite value there
to override a velocity). The stacking observers need the green cube's speed ("top still"), so a non-finite report is
replaced by the finite difference of the body's last two reported positions.
"""

from __future__ import annotations

import numpy as np


class BodyVelocities:
    def __init__(self) -> None:
        #: body -> (stamp in ns, position, velocity) of its last report.
        self._last: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        """Forget every body's history (the world was reset: its bodies jumped)."""
        self._last.clear()

    def velocity(self, body: str, position: np.ndarray, stamp_ns: int, reported: np.ndarray) -> np.ndarray:
        """`reported` when it is finite; else the displacement since the body's previous report over the time
        between them. A body's first report is at rest (bodies are placed at rest); one no newer than the last
        (a duplicate, or simulated time restarted) keeps the last estimate and counts from there on."""
        position = np.asarray(position, dtype=np.float64).copy()
        reported = np.asarray(reported, dtype=np.float64)
        previous = self._last.get(body)
        if np.all(np.isfinite(reported)):
            velocity = reported.copy()
        elif previous is None:
            velocity = np.zeros(3)
        elif stamp_ns <= previous[0]:
            velocity = previous[2]
        else:
            velocity = (position - previous[1]) / ((stamp_ns - previous[0]) * 1e-9)
        self._last[body] = (stamp_ns, position, velocity)
        return velocity.copy()
