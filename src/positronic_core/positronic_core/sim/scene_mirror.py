"""The stack-cubes scene posed from another simulator's state, for what that simulator does not give us: our cameras,
the EE pose, the grip, the stacking observers and the cubes' poses.

With ros2_control the physics runs in mujoco_ros2_control (MuJoCo 3.8.1, C++); it reports every joint and the
cubes' free joints. This mirror loads the same MJCF in our MuJoCo, copies those positions in, and derives and
renders exactly as `StackCubesSim` does on the plain path, so the two paths publish the same observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import mujoco
import numpy as np

from positronic_core import stacking_task
from positronic_core.geometry import matrix_to_quat_wxyz
from positronic_core.sim import control_scene, observers, scene
from positronic_core.sim.mesh_lod import simplify_visual_meshes
from positronic_core.sim.rendering import CameraRenderer

_BOXES = {"red": scene.RED_BOX, "green": scene.GREEN_BOX}


class SceneMirror:
    def __init__(self, model_file: Path, *, camera_size: tuple[int, int] = (320, 240),
                 cameras: Iterable[str] = stacking_task.CAMERAS, render_quality: str = "fast") -> None:
        cameras = tuple(cameras)
        unknown = [name for name in cameras if name not in scene.CAMERAS]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; available: {list(scene.CAMERAS)}")
        if render_quality not in scene.RENDER_QUALITIES:
            raise ValueError(f"render_quality must be one of {scene.RENDER_QUALITIES}, got {render_quality!r}")
        spec = mujoco.MjSpec.from_file(str(model_file))
        if render_quality == "fast":
            simplify_visual_meshes(spec)
        self.model = spec.compile()
        scene.set_render_options(self.model, camera_size=camera_size, render_quality=render_quality)
        self.data = mujoco.MjData(self.model)
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.model.key(control_scene.HOME_KEY).id)
        self._joints = {self.model.joint(i).name: (int(self.model.jnt_qposadr[i]), int(self.model.jnt_dofadr[i]))
                        for i in range(self.model.njnt)}
        self._site = self.model.site(control_scene.PREFIX + "pinch").id
        self._renderer = CameraRenderer(self.model, {name: scene.CAMERAS[name][0] for name in cameras}, camera_size)
        mujoco.mj_forward(self.model, self.data)
        self._red_start = self._position("red")

    def set_joints(self, names: Iterable[str], positions: Iterable[float]) -> None:
        """Hinge and slide joints by name; names this scene lacks are ignored (a reporter may list more)."""
        for name, value in zip(names, positions, strict=True):
            entry = self._joints.get(name)
            if entry is not None:
                self.data.qpos[entry[0]] = value

    def set_body(self, name: str, pose7: np.ndarray, linear_velocity: np.ndarray) -> None:
        """A cube's free joint: x, y, z, qw, qx, qy, qz and its linear velocity (the observers read the green one's)."""
        qpos, dof = self._joints[name]
        self.data.qpos[qpos:qpos + 7] = pose7
        self.data.qvel[dof:dof + 3] = linear_velocity

    def update(self) -> None:
        """Derive site poses and cameras from the positions set since the last update."""
        mujoco.mj_kinematics(self.model, self.data)

    def start_episode(self) -> None:
        """Remember where the red cube is now: the observers score how far it is pushed from there."""
        self._red_start = self._position("red")

    # Observations ---------------------------------------------------------------------------------------------------

    @property
    def ee_pose(self) -> np.ndarray:
        rotation = self.data.site_xmat[self._site].reshape(3, 3)
        return np.concatenate([self.data.site_xpos[self._site], matrix_to_quat_wxyz(rotation)])

    @property
    def grip(self) -> float:
        """Measured finger closure, 0 = open, 1 = closed on nothing (as `Franka.grip`)."""
        qpos, _ = self._joints[control_scene.GRIPPER_JOINT]
        return float(np.clip(self.data.qpos[qpos] / control_scene.GRIPPER_CLOSED, 0.0, 1.0))

    def observers(self) -> dict[str, float]:
        state = self._stacking_scene()
        return {"box_distance": observers.box_distance(state), "stacking_success": observers.stacking_success(state)}

    def privileged_state(self) -> dict[str, np.ndarray]:
        return {stacking_task.RED_CUBE_POSE: self._pose("red"), stacking_task.GREEN_CUBE_POSE: self._pose("green")}

    def render(self, names: Iterable[str] | None = None) -> Mapping[str, np.ndarray]:
        return self._renderer.render(self.data, names)

    def close(self) -> None:
        self._renderer.close()

    def _pose(self, color: str) -> np.ndarray:
        qpos, _ = self._joints[_BOXES[color]]
        return self.data.qpos[qpos:qpos + 7].copy()

    def _position(self, color: str) -> np.ndarray:
        return self._pose(color)[:3]

    def _stacking_scene(self) -> observers.StackingScene:
        _, green_dof = self._joints[_BOXES["green"]]
        return observers.StackingScene(
            red_position=self._position("red"),
            red_start=self._red_start,
            green_position=self._position("green"),
            green_velocity=self.data.qvel[green_dof:green_dof + 3].copy(),
            gripper_position=self.data.site_xpos[self._site].copy(),
            table_z=scene.TABLE_TOP_Z,
            cube_half_height=scene.BOX_HALF_EXTENTS[2],
        )
