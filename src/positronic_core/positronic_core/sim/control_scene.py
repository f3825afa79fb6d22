"""The stack-cubes scene as mujoco_ros2_control simulates it: the same table, cubes, Panda and cameras as
`StackCubesSim`, with the arm and gripper driven the way ros2_control's MuJoCo hardware interface drives joints.

That interface maps each ros2_control joint to the MJCF actuator on the joint of the same name (a tendon actuator
to the joint its name repeats) and sends a `position` command straight to a position actuator's `ctrl`. So here:
- the Panda is attached under `fr3_`, giving `fr3_joint1..7`, the FR3's joint names in franka_description (the
  FR3 and the Panda share their kinematics), so one controllers.yaml serves this simulation and the real arm;
- its torque motors become position actuators with gravity compensated on the arm's bodies (our own
  computed-torque loop lives in Python, which this simulator does not run);
- the Robotiq tendon actuator is renamed after the right driver joint and rescaled so that its `ctrl` is that
  joint's target in radians (0 open .. 0.8 closed) with the stiffness it had;
- a `home` keyframe starts the arm where `StackCubesSim.reset` puts it.

The file is written by MuJoCo 4.0 and loaded by the 3.8.1 that mujoco_ros2_control links (and by our scene mirror);
its test loads it in both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import mujoco
import numpy as np

from positronic_core.sim import scene
from positronic_core.sim.franka import ARM_JOINTS, HOME_Q

PREFIX = "fr3_"
JOINTS = [PREFIX + name for name in ARM_JOINTS]
GRIPPER_JOINT = PREFIX + "right_driver_joint"
#: The driver joint's range end: the fingers closed on nothing.
GRIPPER_CLOSED = 0.8
HOME_KEY = "home"
#: Position gains (N m/rad) and damping (N m s/rad) of the shoulder/elbow and the wrist joints, after MuJoCo
#: Menagerie's position-controlled Panda.
ARM_GAINS = ((4500.0, 450.0),) * 4 + ((2000.0, 200.0),) * 3
_ROBOTIQ_ACTUATOR = PREFIX + "fingers_actuator"
_ROBOTIQ_FULL_CTRL = 255.0


def build_spec() -> mujoco.MjSpec:
    spec = scene.build_spec(render_quality="default", prefix=PREFIX)
    for index, (joint, (kp, kv)) in enumerate(zip(JOINTS, ARM_GAINS, strict=True)):
        actuator = spec.actuator(f"{PREFIX}actuator{index + 1}")
        # The motor's torque limits stay as the position actuator's force limits.
        actuator.forcerange = actuator.ctrlrange.copy()
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.ctrlrange = spec.joint(joint).range.copy()
        actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        actuator.gainprm[:3] = [kp, 0.0, 0.0]
        actuator.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        actuator.biasprm[:3] = [0.0, -kp, -kv]
    for body in spec.bodies:
        if body.name.startswith(PREFIX):
            body.gravcomp = 1.0
    gripper = spec.actuator(_ROBOTIQ_ACTUATOR)
    # Its force was gain * ctrl - k * length with ctrl in 0..255 for 0..0.8 rad; a gain of k makes ctrl radians.
    gripper.gainprm[0] = gripper.gainprm[0] * _ROBOTIQ_FULL_CTRL / GRIPPER_CLOSED
    gripper.ctrlrange = [0.0, GRIPPER_CLOSED]
    gripper.name = GRIPPER_JOINT

    model = spec.copy().compile()
    data = mujoco.MjData(model)
    for joint, q in zip(JOINTS, HOME_Q, strict=True):
        data.qpos[model.joint(joint).qposadr[0]] = q
    ctrl = np.zeros(model.nu)
    for joint, q in zip(JOINTS, HOME_Q, strict=True):
        ctrl[model.actuator(_actuator_of(model, joint)).id] = q
    spec.add_key(name=HOME_KEY, qpos=data.qpos.tolist(), ctrl=ctrl.tolist())
    return spec


def _actuator_of(model: mujoco.MjModel, joint: str) -> int:
    joint_id = model.joint(joint).id
    return int(np.flatnonzero((model.actuator_trnid[:, 0] == joint_id)
                              & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT))[0])


def default_path() -> Path:
    return Path(tempfile.gettempdir()) / "positronic_ros2_control" / "stack_cubes.xml"


def write_mjcf(path: Path) -> Path:
    """Write the scene to `path` (atomically: launches starting together may write it at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = build_spec().to_xml()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".xml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> None:
    """Writes the ros2_control stack-cubes MJCF and prints its path (the launch files pass it to the hardware)."""
    parser = argparse.ArgumentParser(prog="sim_mjcf", description=main.__doc__)
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the MJCF (default {default_path()})")
    args = parser.parse_args(argv)
    try:
        print(write_mjcf(args.output or default_path()), end="")
    except (OSError, ValueError) as e:
        print(f"sim_mjcf: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
