"""The simulated Panda: joint-space tracking of a target, the Robotiq gripper, and the measured robot state.

The gym-hil Panda drives its joints with torque motors, so tracking is ours: a computed-torque PD (the mass matrix
times a PD acceleration, plus MuJoCo's gravity and Coriolis bias) whose response does not change as the arm's
inertia does across the workspace. The set-point moves towards the commanded target no faster than the Panda's joint
speed limits, so a far target (a joint command, a reset) becomes a motion instead of a torque spike.
"""

from __future__ import annotations

import mujoco
import numpy as np

from positronic_core.geometry import matrix_to_quat_wxyz

ARM_JOINTS = [f"joint{i}" for i in range(1, 8)]
EE_SITE = "pinch"
GRIPPER_ACTUATOR = "fingers_actuator"
GRIPPER_JOINT = "right_driver_joint"

#: Gripper pointing straight down, pinch point 25 cm above the table at x = 0.45 m, fingers closing along world x
#: (solved once with `SiteIK` from a symmetric seed, then rounded).
HOME_Q = np.array([0.0, -0.2536, 0.0, -2.4383, 0.0, 2.1847, -0.7854])
#: The Panda's joint speed limits (rad/s), derated: the real arm's controller is also run well below them.
MAX_JOINT_SPEED = 0.75 * np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
#: Closed-loop bandwidth of the joint tracking, critically damped.
TRACKING_HZ = 8.0


class Franka:
    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, prefix: str) -> None:
        self._model = model
        self._data = data
        joint_ids = [model.joint(prefix + name).id for name in ARM_JOINTS]
        self.joint_names = [prefix + name for name in ARM_JOINTS]
        self.site_name = prefix + EE_SITE
        self._qpos_adr = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self._dof_adr = np.array([model.jnt_dofadr[j] for j in joint_ids])
        self._lower = model.jnt_range[joint_ids, 0].copy()
        self._upper = model.jnt_range[joint_ids, 1].copy()
        self._site = model.site(self.site_name).id
        # The motors act on the arm joints in order; find them by joint so attachment order cannot matter.
        trn = model.actuator_trnid[:, 0]
        self._arm_actuators = np.array(
            [
                int(np.flatnonzero((trn == j) & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT))[0])
                for j in joint_ids
            ]
        )
        self._gripper_actuator = model.actuator(prefix + GRIPPER_ACTUATOR).id
        self._gripper_ctrl_range = model.actuator_ctrlrange[self._gripper_actuator].copy()
        gripper_joint = model.joint(prefix + GRIPPER_JOINT).id
        self._gripper_qpos_adr = model.jnt_qposadr[gripper_joint]
        self._gripper_closed_q = float(model.jnt_range[gripper_joint, 1])

        omega = 2.0 * np.pi * TRACKING_HZ
        self._kp, self._kd = omega**2, 2.0 * omega
        self._max_step = MAX_JOINT_SPEED * model.opt.timestep
        self._acc = np.zeros(model.nv)
        self._inertial = np.zeros(model.nv)
        self.target_q = HOME_Q.copy()
        self._setpoint = HOME_Q.copy()
        self.target_grip = 0.0

    # Commands -------------------------------------------------------------------------------------------------------

    def home(self) -> None:
        """Put the arm at home, at rest, with the gripper open (instantly: for a fresh episode only)."""
        self._data.qpos[self._qpos_adr] = HOME_Q
        self._data.qvel[self._dof_adr] = 0.0
        self.set_target_q(HOME_Q)
        self._setpoint = HOME_Q.copy()
        self.set_grip(0.0)

    def set_target_q(self, q: np.ndarray) -> None:
        self.target_q = np.clip(np.asarray(q, dtype=np.float64), self._lower, self._upper)

    def set_grip(self, grip: float) -> None:
        self.target_grip = float(np.clip(grip, 0.0, 1.0))
        low, high = self._gripper_ctrl_range
        # The Robotiq actuator's control is a position in 0 (open) .. 255 (closed), the same sense as ours.
        self._data.ctrl[self._gripper_actuator] = low + self.target_grip * (high - low)

    # Per physics step -----------------------------------------------------------------------------------------------

    def control(self) -> None:
        """Write the arm torques for the next physics step."""
        self._setpoint += np.clip(self.target_q - self._setpoint, -self._max_step, self._max_step)
        q = self._data.qpos[self._qpos_adr]
        dq = self._data.qvel[self._dof_adr]
        self._acc[self._dof_adr] = self._kp * (self._setpoint - q) - self._kd * dq
        mujoco.mj_mulM(self._model, self._data, self._inertial, self._acc)
        torque = self._inertial[self._dof_adr] + self._data.qfrc_bias[self._dof_adr]
        # ctrllimited clamps to the Panda's torque limits.
        self._data.ctrl[self._arm_actuators] = torque

    # State ----------------------------------------------------------------------------------------------------------

    @property
    def q(self) -> np.ndarray:
        return self._data.qpos[self._qpos_adr].copy()

    @property
    def dq(self) -> np.ndarray:
        return self._data.qvel[self._dof_adr].copy()

    @property
    def ee_position(self) -> np.ndarray:
        return self._data.site_xpos[self._site].copy()

    @property
    def ee_pose(self) -> np.ndarray:
        """x, y, z, qw, qx, qy, qz of the pinch point between the fingertips, in the robot-base (= world) frame."""
        rotation = self._data.site_xmat[self._site].reshape(3, 3)
        return np.concatenate([self._data.site_xpos[self._site], matrix_to_quat_wxyz(rotation)])

    @property
    def grip(self) -> float:
        """Measured finger closure, 0 = open, 1 = closed on nothing."""
        return float(np.clip(self._data.qpos[self._gripper_qpos_adr] / self._gripper_closed_q, 0.0, 1.0))
