"""A scripted stack-cubes expert that reads the simulator's privileged cube poses.

It serves as the default policy for demos and for generating demonstrations. Each `infer` decides the stage
(pick, grasp, carry, release, retreat) from what it observes, then plans a one-second chunk of Cartesian targets
from the measured end-effector pose. Because the plan is a function of the observation and the stage, a chunk
that is cut short or requested early (the control loop may do both) leaves nothing stale behind.

The motion rule moves horizontally only at a safe height and descends only once above the goal with the yaw
aligned, so the fingers never sweep through a cube. The gripper points straight down; its closing axis is turned
to face a side of the cube.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import numpy as np

from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.robot.commands import Action, CartesianPosition
from positronic_core.stacking_task import GREEN_CUBE_POSE, RED_CUBE_POSE

CHUNK_SIZE = 15
FPS = 15.0
#: Half the height of the simulator's cubes (positronic_core.sim.scene.BOX_HALF_EXTENTS): a cube resting on
#: another has its centre this much, twice over, above the lower one's.
CUBE_HALF_HEIGHT = 0.01
#: Pinch point above the cube's centre when grasping: the Robotiq fingertips swing down as they close, so a grasp
#: at the centre would drive them into the table.
GRASP_ABOVE_CENTRE = 0.008
#: Release this far above resting height, so the cube is set down rather than pressed into the one below.
PLACE_CLEARANCE = 0.003
TRAVEL_HEIGHT = 0.1  # m above the relevant cube centre for horizontal moves
RETREAT_HEIGHT = 0.15  # m above the stacked cube, beyond the 12 cm "gripper clear" criterion
TRAVEL_SPEED = 0.3  # m/s
APPROACH_SPEED = 0.12  # m/s, the last vertical stretch
YAW_RATE = 1.5  # rad/s
XY_TOLERANCE = 0.004  # m: over the goal closely enough to descend
NEAR_XY = 0.02  # m: near enough to correct without first climbing to travel height
YAW_TOLERANCE = 0.05  # rad: aligned closely enough to descend
ARRIVED = 0.005  # m: at the goal pose
GRIP_TOUCHING = 0.15  # measured grip above which the fingers have closed on something
GRIP_EMPTY = 0.95  # measured grip above which they closed on nothing
GRIP_RELEASED = 0.1
GRIP_SETTLED = 0.02  # change in measured grip between two chunks once the fingers have stopped
HELD_DISTANCE = 0.03  # m between the pinch point and the green cube's centre while it is held
QUARTER_TURN = np.pi / 2


class Stage(enum.Enum):
    PICK = "pick"
    GRASP = "grasp"
    CARRY = "carry"
    RELEASE = "release"
    RETREAT = "retreat"


def yaw_of(rotation: np.ndarray) -> float:
    """Heading of a frame's x axis in the world xy plane."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def wrap(angle: float, period: float = 2 * np.pi) -> float:
    """`angle` folded into [-period/2, period/2)."""
    return float((angle + period / 2) % period - period / 2)


def gripper_down(yaw: float) -> np.ndarray:
    """Rotation of a gripper pointing straight down (z = -world z) whose x axis heads along `yaw`."""
    x = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    return np.column_stack([x, np.cross(z, x), z])


class ScriptedStackingSession:
    def __init__(self) -> None:
        self.stage = Stage.PICK
        self._last_grip = 0.0

    def infer(self, observation: Mapping[str, Any]) -> list[Action]:
        ee = np.asarray(observation["robot_state.ee_pose"], dtype=np.float64)
        grip = float(np.asarray(observation["grip"]))
        red = np.asarray(observation[RED_CUBE_POSE], dtype=np.float64)
        green = np.asarray(observation[GREEN_CUBE_POSE], dtype=np.float64)
        position, yaw = ee[:3], yaw_of(quat_wxyz_to_matrix(ee[3:7]))

        self._update_stage(position, yaw, grip, red, green)
        goal, goal_yaw, target_grip, travel_z = self._goal(position, yaw, red, green)
        hold = self.stage in (Stage.GRASP, Stage.RELEASE)

        actions = []
        for i in range(CHUNK_SIZE):
            if not hold:
                position, yaw = _step_towards(position, yaw, goal, goal_yaw, travel_z, 1.0 / FPS)
            else:
                position, yaw = goal, goal_yaw
            pose = np.concatenate([position, gripper_down(yaw).reshape(9)])
            actions.append(Action(CartesianPosition(pose), target_grip, timestamp=i / FPS))
        return actions

    def close(self) -> None:
        pass

    # Stage logic ----------------------------------------------------------------------------------------------------

    def _update_stage(self, position: np.ndarray, yaw: float, grip: float, red: np.ndarray, green: np.ndarray) -> None:
        held = grip > GRIP_TOUCHING and grip < GRIP_EMPTY and np.linalg.norm(green[:3] - position) < HELD_DISTANCE
        goal, goal_yaw, _, _ = self._goal(position, yaw, red, green)
        arrived = np.linalg.norm(goal - position) < ARRIVED and abs(wrap(goal_yaw - yaw)) < YAW_TOLERANCE
        if self.stage is Stage.PICK and arrived:
            self.stage = Stage.GRASP
        elif self.stage is Stage.GRASP and grip > GRIP_TOUCHING and abs(grip - self._last_grip) < GRIP_SETTLED:
            # Lift only once the fingers have stopped closing: a half-closed grasp lets the cube slip out.
            self.stage = Stage.CARRY if held else Stage.PICK
        elif self.stage is Stage.CARRY and not held:
            self.stage = Stage.PICK  # dropped it: open, go back and pick it up again
        elif self.stage is Stage.CARRY and arrived:
            self.stage = Stage.RELEASE
        elif self.stage is Stage.RELEASE and grip < GRIP_RELEASED:
            self.stage = Stage.RETREAT
        elif self.stage is Stage.RETREAT and arrived and not _stacked(red, green):
            self.stage = Stage.PICK  # it fell off: try again
        self._last_grip = grip

    def _goal(
        self, position: np.ndarray, yaw: float, red: np.ndarray, green: np.ndarray
    ) -> tuple[np.ndarray, float, float, float]:
        """(goal position, goal yaw, target grip, height for horizontal travel) for the current stage."""
        green_yaw = yaw_of(quat_wxyz_to_matrix(green[3:7]))
        if self.stage in (Stage.PICK, Stage.GRASP):
            # A square cube can be taken from any side: turn the least.
            goal_yaw = yaw + wrap(green_yaw - yaw, QUARTER_TURN)
            goal = green[:3] + (0.0, 0.0, GRASP_ABOVE_CENTRE)
            return goal, goal_yaw, float(self.stage is Stage.GRASP), green[2] + TRAVEL_HEIGHT
        if self.stage in (Stage.CARRY, Stage.RELEASE):
            # Place the cube, not the hand: carry over whatever offset the grasp left between them.
            red_yaw = yaw_of(quat_wxyz_to_matrix(red[3:7]))
            goal_yaw = yaw + wrap(red_yaw - green_yaw, QUARTER_TURN)
            offset = position - green[:3]
            stacked_centre = red[:3] + (0.0, 0.0, 2 * CUBE_HALF_HEIGHT + PLACE_CLEARANCE)
            goal = stacked_centre + offset
            return goal, goal_yaw, float(self.stage is Stage.CARRY), red[2] + TRAVEL_HEIGHT + offset[2]
        above = red[:3] + (0.0, 0.0, 2 * CUBE_HALF_HEIGHT + RETREAT_HEIGHT)
        goal = np.array([position[0], position[1], above[2]])
        return goal, yaw, 0.0, above[2]


def _stacked(red: np.ndarray, green: np.ndarray) -> bool:
    return bool(np.linalg.norm(green[:2] - red[:2]) < 0.015 and abs(green[2] - red[2] - 2 * CUBE_HALF_HEIGHT) < 0.008)


def _step_towards(
    position: np.ndarray, yaw: float, goal: np.ndarray, goal_yaw: float, travel_z: float, dt: float
) -> tuple[np.ndarray, float]:
    """One control tick of the motion rule: up to travel height, across, turn, then down onto the goal."""
    yaw_error = wrap(goal_yaw - yaw)
    yaw = yaw + float(np.clip(yaw_error, -YAW_RATE * dt, YAW_RATE * dt))
    xy_error = np.linalg.norm(goal[:2] - position[:2])
    speed = TRAVEL_SPEED
    if xy_error > NEAR_XY:
        if position[2] < travel_z - 0.01:
            waypoint = np.array([position[0], position[1], travel_z])
        else:
            waypoint = np.array([goal[0], goal[1], max(travel_z, goal[2])])
    elif xy_error > XY_TOLERANCE or abs(yaw_error) > YAW_TOLERANCE:
        # Close enough to correct in place, without climbing back to travel height.
        waypoint = np.array([goal[0], goal[1], max(position[2], goal[2])])
    else:
        waypoint = goal
        if abs(goal[2] - position[2]) < 0.05:
            speed = APPROACH_SPEED
    delta = waypoint - position
    distance = np.linalg.norm(delta)
    limit = speed * dt
    return (waypoint if distance <= limit else position + delta * (limit / distance)), yaw


class ScriptedStackingPolicy:
    """Policy protocol implementation; see the module docstring."""

    wants_privileged_state = True

    @property
    def meta(self) -> dict[str, Any]:
        return {"type": "scripted", "name": "stack_cubes_expert", "chunk_size": CHUNK_SIZE, "fps": FPS}

    def new_session(self, context: Mapping[str, Any]) -> ScriptedStackingSession:
        return ScriptedStackingSession()

    def close(self) -> None:
        pass
