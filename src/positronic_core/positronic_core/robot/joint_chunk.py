"""A policy's chunk as one joint-space trajectory, for a controller that executes whole trajectories (ros2_control's
joint_trajectory_controller): each action becomes a waypoint at its time in the chunk, in joint positions.

Cartesian targets go through an inverse kinematics solver, each seeded with the previous waypoint's solution so
that consecutive waypoints stay on one branch; joint deltas accumulate from the measured joints. The grip is
carried along per waypoint (the gripper has its own controller). A reset is an episode boundary, not a motion, so a
chunk holding one is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition

#: (target position (3), target rotation (3x3), seed joints) -> joint positions.
IKSolver = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class JointChunk:
    #: Seconds from the chunk's start (the time it was asked for), strictly increasing.
    times_s: np.ndarray
    #: (len(times_s), joints) joint positions.
    positions: np.ndarray
    grips: np.ndarray

    def ahead(self, elapsed_s: float, tick_s: float) -> JointChunk:
        """The waypoints still due `elapsed_s` after the chunk's start, timed from now.

        A chunk that arrives late (a loaded machine, a slow model) keeps what is left of its plan instead of being
        refused whole by a controller that will not start a trajectory ending in the past; one whose every waypoint
        is past becomes its last waypoint, reached in a tick, so the arm still goes where the plan ends.
        """
        due = self.times_s > elapsed_s
        if not due.any():
            return JointChunk(np.array([tick_s]), self.positions[-1:], self.grips[-1:])
        return JointChunk(self.times_s[due] - elapsed_s, self.positions[due], self.grips[due])


def chunk_to_joints(actions: Sequence[Action], tick_s: float, measured_q: np.ndarray,
                    solve_ik: IKSolver | None = None) -> JointChunk:
    """Waypoints of `actions`: an action's timestamp is its time, an untimestamped one is a tick after the previous.

    `measured_q` seeds the first IK solve and is what joint deltas add to. Raises ValueError for a chunk that cannot
    be a trajectory (empty, times not increasing, a reset, or a Cartesian target without a solver).
    """
    if not actions:
        raise ValueError("an empty chunk has no trajectory")
    q = np.asarray(measured_q, dtype=np.float64)
    times, positions, grips = [], [], []
    for i, action in enumerate(actions):
        time = action.timestamp if action.timestamp is not None else (times[-1] + tick_s if times else i * tick_s)
        if times and time <= times[-1]:
            raise ValueError(f"action {i} is due at {time} s, not after the previous one ({times[-1]} s)")
        command = action.command
        if isinstance(command, JointPosition):
            q = command.positions
        elif isinstance(command, JointDelta):
            q = q + command.velocities
        elif isinstance(command, CartesianPosition):
            if solve_ik is None:
                raise ValueError("a Cartesian action needs an inverse kinematics solver")
            q = np.asarray(solve_ik(command.translation, command.rotation, q), dtype=np.float64)
        else:
            raise ValueError(f"action {i} ({type(command).__name__}) is not a joint-space motion")
        times.append(float(time))
        positions.append(q)
        grips.append(float(action.target_grip))
    return JointChunk(np.array(times), np.vstack(positions), np.array(grips))
