"""Live task scores for stack-cubes: `box_distance` and `stacking_success`.

`stacking_success` is the minimum of soft scores in [0, 1], so it is 1 only when every criterion holds and it falls
off smoothly (rather than flickering) as a criterion is approached or lost. Each score is 1 within its tolerance and
falls linearly to 0 at twice the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Tolerances, after upstream Positronic's observers.
BASE_STAYED_PUT = 0.04  # m the red cube may have been pushed from where it was placed
BASE_ON_TABLE = 0.01  # m of the red cube's centre from resting height
TOP_ALIGNED_XY = 0.025  # m between the cube centres, horizontally
TOP_STACKED_HEIGHT = 0.015  # m from the green cube's height when it rests on the red one
TOP_STILL = 0.02  # m/s of the green cube
GRIPPER_CLEAR = 0.12  # m from the pinch point to the green cube


@dataclass(frozen=True)
class StackingScene:
    red_position: np.ndarray
    red_start: np.ndarray
    green_position: np.ndarray
    green_velocity: np.ndarray
    gripper_position: np.ndarray
    table_z: float
    cube_half_height: float


def within(error: float, tolerance: float) -> float:
    return float(np.clip(2.0 - error / tolerance, 0.0, 1.0))


def at_least(value: float, tolerance: float) -> float:
    return float(np.clip(2.0 * value / tolerance - 1.0, 0.0, 1.0))


def box_distance(scene: StackingScene) -> float:
    return float(np.linalg.norm(scene.green_position - scene.red_position))


def stacking_scores(scene: StackingScene) -> dict[str, float]:
    red, green = scene.red_position, scene.green_position
    return {
        "base_stayed_put": within(float(np.linalg.norm(red[:2] - scene.red_start[:2])), BASE_STAYED_PUT),
        "base_on_table": within(abs(red[2] - scene.table_z - scene.cube_half_height), BASE_ON_TABLE),
        "top_aligned": within(float(np.linalg.norm(green[:2] - red[:2])), TOP_ALIGNED_XY),
        "top_stacked": within(abs(green[2] - red[2] - 2.0 * scene.cube_half_height), TOP_STACKED_HEIGHT),
        "top_still": within(float(np.linalg.norm(scene.green_velocity)), TOP_STILL),
        "gripper_clear": at_least(float(np.linalg.norm(scene.gripper_position - green)), GRIPPER_CLEAR),
    }


def stacking_success(scene: StackingScene) -> float:
    """The weakest score; a criterion that cannot be evaluated (NaN, e.g. an unreported velocity) scores 0, since a
    plain `min` would skip it or not depending on where it falls."""
    return min(0.0 if np.isnan(score) else score for score in stacking_scores(scene).values())
