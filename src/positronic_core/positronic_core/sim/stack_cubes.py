"""`StackCubesSim`: the stack-cubes task on a simulated Panda, driven by the same commands as the real arm.

Time is virtual: `advance` steps physics as fast as the CPU allows, and `render` draws cameras only when asked.
Same seed, same machine: `reset(seed)` followed by the same commands gives bit-identical states and images, because
MuJoCo is deterministic single-threaded, `mj_resetData` clears its warm starts, and our controller state is reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mujoco
import numpy as np

from positronic_core import stacking_task
from positronic_core.robot.commands import Action, CartesianPosition, JointDelta, JointPosition, Reset
from positronic_core.sim import observers, scene
from positronic_core.sim.franka import HOME_Q, Franka
from positronic_core.sim.ik import SiteIK
from positronic_core.sim.placement import place_cubes
from positronic_core.sim.rendering import CameraRenderer

#: Physics time from placing the cubes (a hair above the table) to handing over the episode: they drop and stop.
SETTLE_SECONDS = 0.3
_DROP_GAP = 1e-4


class StackCubesSim:
    TASK = stacking_task.TASK

    def __init__(
        self,
        *,
        camera_size: tuple[int, int] = (320, 240),
        cameras: Iterable[str] = stacking_task.CAMERAS,
        render_quality: str = "fast",
    ) -> None:
        """`camera_size` is (width, height); `render_quality` "fast" turns off shadows and multisampling."""
        if len(camera_size) != 2 or min(camera_size) <= 0:
            raise ValueError(f"camera_size must be (width, height) in pixels, got {camera_size!r}")
        cameras = tuple(cameras)
        unknown = [name for name in cameras if name not in scene.CAMERAS]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; available: {list(scene.CAMERAS)}")
        self.model = scene.build_model(camera_size=camera_size, render_quality=render_quality)
        self.data = mujoco.MjData(self.model)
        self._franka = Franka(self.model, self.data, scene.PANDA_PREFIX)
        self._ik = SiteIK(self.model, self._franka.site_name, self._franka.joint_names, rest_q=HOME_Q)
        # (qpos address, dof address) of each cube's free joint.
        self._boxes = {
            color: (int(self.model.joint(body).qposadr[0]), int(self.model.joint(body).dofadr[0]))
            for color, body in (("red", scene.RED_BOX), ("green", scene.GREEN_BOX))
        }
        self._renderer = CameraRenderer(
            self.model, {name: scene.CAMERAS[name][0] for name in cameras}, (camera_size[0], camera_size[1])
        )
        self._steps_per_second = 1.0 / self.model.opt.timestep
        self._requested_time = 0.0
        self._red_start = np.zeros(3)
        self.reset(0)

    # Episode --------------------------------------------------------------------------------------------------------

    def reset(self, seed: int) -> None:
        """Home the arm, open the gripper, place the cubes at random (from `seed`) and let them settle."""
        mujoco.mj_resetData(self.model, self.data)
        self._franka.home()
        half_height = scene.BOX_HALF_EXTENTS[2]
        for color, placement in zip(("red", "green"), place_cubes(np.random.default_rng(seed)), strict=True):
            qpos, dof = self._boxes[color]
            self.data.qpos[qpos : qpos + 3] = (placement.x, placement.y, scene.TABLE_TOP_Z + half_height + _DROP_GAP)
            self.data.qpos[qpos + 3 : qpos + 7] = placement.quat_wxyz()
            self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)
        self._step(round(SETTLE_SECONDS * self._steps_per_second))
        self.data.time = 0.0
        self._requested_time = 0.0
        self._red_start = self._box_position("red")

    @property
    def time(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    # Commands -------------------------------------------------------------------------------------------------------

    def apply(self, action: Action) -> None:
        """Set the arm and gripper targets; `advance` then moves towards them."""
        command = action.command
        if isinstance(command, CartesianPosition):
            # Seed from the last target, not the measured q: successive targets then stay on one IK branch.
            result = self._ik.solve(command.translation, command.rotation, self._franka.target_q)
            self._franka.set_target_q(result.q)
        elif isinstance(command, JointPosition):
            self._franka.set_target_q(command.positions)
        elif isinstance(command, JointDelta):
            self._franka.set_target_q(self._franka.q + command.velocities)
        elif isinstance(command, Reset):
            self._franka.set_target_q(HOME_Q)
        else:
            raise TypeError(f"not a robot command: {command!r}")
        self._franka.set_grip(action.target_grip)

    def advance(self, seconds: float) -> None:
        """Step physics for `seconds` of simulated time, tracking the current targets.

        Whole 2 ms steps; the remainder carries over to the next call, so `time` never drifts from the sum of the
        requested durations by more than half a step (1/15 s is 33.3 steps).
        """
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        self._requested_time += seconds
        steps = round((self._requested_time - self.time) * self._steps_per_second)
        if steps > 0:
            self._step(steps)

    def _step(self, count: int) -> None:
        model, data, franka = self.model, self.data, self._franka
        for _ in range(count):
            # step1 refreshes the mass matrix and bias forces at the current state, so the torques use them fresh.
            mujoco.mj_step1(model, data)
            franka.control()
            mujoco.mj_step2(model, data)
        # Stepping leaves positions one step ahead of the derived quantities (site poses, cameras); bring them level
        # so robot_state and render describe the same instant as qpos.
        mujoco.mj_forward(model, data)

    # Observations ---------------------------------------------------------------------------------------------------

    def robot_state(self) -> dict[str, Any]:
        return {
            "robot_state.q": self._franka.q,
            "robot_state.dq": self._franka.dq,
            "robot_state.ee_pose": self._franka.ee_pose,
            "grip": self._franka.grip,
        }

    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """uint8 (height, width, 3) images of the requested cameras (all configured ones when `names` is None)."""
        return self._renderer.render(self.data, names)

    def observers(self) -> dict[str, float]:
        state = self._stacking_scene()
        return {"box_distance": observers.box_distance(state), "stacking_success": observers.stacking_success(state)}

    def stacking_scores(self) -> dict[str, float]:
        """The criteria behind `stacking_success`, for diagnosis."""
        return observers.stacking_scores(self._stacking_scene())

    def privileged_state(self) -> dict[str, np.ndarray]:
        return {stacking_task.RED_CUBE_POSE: self._box_pose("red"),
                stacking_task.GREEN_CUBE_POSE: self._box_pose("green")}

    def close(self) -> None:
        self._renderer.close()

    # Internals ------------------------------------------------------------------------------------------------------

    def _box_pose(self, color: str) -> np.ndarray:
        qpos, _ = self._boxes[color]
        return self.data.qpos[qpos : qpos + 7].copy()

    def _box_position(self, color: str) -> np.ndarray:
        qpos, _ = self._boxes[color]
        return self.data.qpos[qpos : qpos + 3].copy()

    def _stacking_scene(self) -> observers.StackingScene:
        _, green_dof = self._boxes["green"]
        return observers.StackingScene(
            red_position=self._box_position("red"),
            red_start=self._red_start,
            green_position=self._box_position("green"),
            green_velocity=self.data.qvel[green_dof : green_dof + 3].copy(),
            gripper_position=self._franka.ee_position,
            table_z=scene.TABLE_TOP_Z,
            cube_half_height=scene.BOX_HALF_EXTENTS[2],
        )
