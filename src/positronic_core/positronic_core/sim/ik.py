"""Damped-least-squares inverse kinematics for one site of a MuJoCo arm, position and orientation."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from positronic_core.geometry import matrix_to_quat_wxyz
from positronic_core.sim.assets import panda_xml
from positronic_core.sim.franka import ARM_JOINTS, EE_SITE, HOME_Q


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """World-frame rotation vector that turns `current` into `target` (both 3x3)."""
    w, x, y, z = matrix_to_quat_wxyz(target @ current.T)
    sin_half = np.linalg.norm((x, y, z))
    if sin_half < 1e-12:
        return np.zeros(3)
    return np.array([x, y, z]) * (2.0 * np.arctan2(sin_half, w) / sin_half)


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray
    position_error: float
    rotation_error: float
    converged: bool


class SiteIK:
    """Solves joint positions that put a site at a pose, on a scratch MjData so the live simulation is untouched.

    Damping keeps the steps bounded near singularities; a small pull towards a rest posture in the Jacobian's null
    space stops the redundant (elbow) degree of freedom from wandering over a long episode of small targets.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str,
        joints: list[str],
        *,
        rest_q: np.ndarray,
        rotation_weight: float = 0.5,
        damping: float = 1e-2,
        null_gain: float = 0.05,
        max_iterations: int = 100,
        position_tolerance: float = 1e-4,
        rotation_tolerance: float = 1e-3,
    ) -> None:
        self._model = model
        self._data = mujoco.MjData(model)
        self._site = model.site(site).id
        joint_ids = [model.joint(name).id for name in joints]
        self._qpos_adr = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self._dof_adr = np.array([model.jnt_dofadr[j] for j in joint_ids])
        self._lower = model.jnt_range[joint_ids, 0].copy()
        self._upper = model.jnt_range[joint_ids, 1].copy()
        self._rest_q = np.asarray(rest_q, dtype=np.float64)
        self._weights = np.array([1.0, 1.0, 1.0, rotation_weight, rotation_weight, rotation_weight])
        self._damping = damping
        self._null_gain = null_gain
        self._max_iterations = max_iterations
        self._position_tolerance = position_tolerance
        self._rotation_tolerance = rotation_tolerance
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def site_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: (position, 3x3 rotation) of the site at joint positions `q`."""
        self._set_q(q)
        return self._data.site_xpos[self._site].copy(), self._data.site_xmat[self._site].reshape(3, 3).copy()

    def solve(self, position: np.ndarray, rotation: np.ndarray, q_init: np.ndarray) -> IKResult:
        q = np.clip(np.asarray(q_init, dtype=np.float64), self._lower, self._upper)
        position = np.asarray(position, dtype=np.float64)
        rotation = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
        eye = np.eye(len(q))
        pos_err = rot_err = np.inf
        for _ in range(self._max_iterations):
            self._set_q(q)
            error = np.concatenate(
                [
                    position - self._data.site_xpos[self._site],
                    rotation_error(rotation, self._data.site_xmat[self._site].reshape(3, 3)),
                ]
            )
            pos_err, rot_err = float(np.linalg.norm(error[:3])), float(np.linalg.norm(error[3:]))
            if pos_err < self._position_tolerance and rot_err < self._rotation_tolerance:
                return IKResult(q, pos_err, rot_err, True)
            mujoco.mj_jacSite(self._model, self._data, self._jacp, self._jacr, self._site)
            jac = np.vstack([self._jacp[:, self._dof_adr], self._jacr[:, self._dof_adr]]) * self._weights[:, None]
            weighted = error * self._weights
            pinv = jac.T @ np.linalg.inv(jac @ jac.T + self._damping**2 * np.eye(6))
            step = pinv @ weighted + (eye - pinv @ jac) @ (self._null_gain * (self._rest_q - q))
            # Bounded steps keep a far target from flinging the linearisation into another branch.
            norm = np.linalg.norm(step)
            if norm > 0.3:
                step *= 0.3 / norm
            q = np.clip(q + step, self._lower, self._upper)
        return IKResult(q, pos_err, rot_err, False)

    def _set_q(self, q: np.ndarray) -> None:
        self._data.qpos[self._qpos_adr] = q
        # mj_jacSite reads the kinematic tree and the centres of mass, both refreshed here.
        mujoco.mj_kinematics(self._model, self._data)
        mujoco.mj_comPos(self._model, self._data)


def panda_ik() -> SiteIK:
    """IK of the simulated Panda's pinch point (the EE pose every observation reports), on the arm's own MJCF.

    The scene attaches the arm at the world origin, so its base frame is the world frame the poses are in."""
    model = mujoco.MjModel.from_xml_path(str(panda_xml()))
    return SiteIK(model, EE_SITE, ARM_JOINTS, rest_q=HOME_Q)
