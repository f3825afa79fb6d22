"""The simulated Panda as URDF, for robot_state_publisher and rviz.

Written from the same MJCF the simulator loads, so the kinematics shown in rviz are the simulated ones: each body
becomes a link, each arm hinge a revolute joint (`panda_joint1..7`, the names the ROS Franka stack uses),
everything else (the gripper's linkage included) a fixed joint, and each visual mesh geom a visual with its mesh
file as a `file://` URI. The robot's base is the world origin, as in the simulator.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import mujoco
import numpy as np

from positronic_core.sim.assets import panda_xml
from positronic_core.sim.franka import ARM_JOINTS

#: MuJoCo Menagerie puts visual geoms in group 2 and collision geoms in group 3.
VISUAL_GROUP = 2
ROOT_LINK = "world"


def ros_joint_name(mj_name: str) -> str:
    return f"panda_{mj_name}" if mj_name.startswith("joint") else mj_name


def _rpy(quat_wxyz: np.ndarray) -> tuple[float, float, float]:
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(quat_wxyz, dtype=np.float64))
    r = mat.reshape(3, 3)
    # URDF's rpy is fixed-axis roll about x, then pitch about y, then yaw about z: R = Rz(yaw) Ry(pitch) Rx(roll).
    pitch = float(np.arcsin(-np.clip(r[2, 0], -1.0, 1.0)))
    if abs(np.cos(pitch)) > 1e-9:
        roll = float(np.arctan2(r[2, 1], r[2, 2]))
        yaw = float(np.arctan2(r[1, 0], r[0, 0]))
    else:
        roll = float(np.arctan2(-r[1, 2], r[1, 1]))
        yaw = 0.0
    return roll, pitch, yaw


def _origin(pos: np.ndarray, quat: np.ndarray) -> str:
    roll, pitch, yaw = _rpy(quat)
    xyz = " ".join(f"{v:.6g}" for v in pos)
    return f'<origin xyz="{xyz}" rpy="{roll:.6g} {pitch:.6g} {yaw:.6g}"/>'


def panda_urdf(name: str = "panda") -> str:
    spec = mujoco.MjSpec.from_file(str(panda_xml()))
    mesh_root = panda_xml().parent / (spec.meshdir or "")
    mesh_files = {mesh.name: (mesh_root / mesh.file).resolve() for mesh in spec.meshes}
    mesh_scales = {mesh.name: np.asarray(mesh.scale) for mesh in spec.meshes}
    lines = [f'<?xml version="1.0"?>\n<robot name={quoteattr(name)}>', f'  <link name="{ROOT_LINK}"/>']

    def visit(body: mujoco.MjsBody, parent_link: str) -> None:
        link = body.name
        lines.append(f"  <link name={quoteattr(link)}>")
        for geom in body.geoms:
            if geom.type != mujoco.mjtGeom.mjGEOM_MESH or geom.group != VISUAL_GROUP:
                continue
            scale = " ".join(f"{v:.6g}" for v in mesh_scales[geom.meshname])
            lines.append(f"    <visual>{_origin(geom.pos, geom.quat)}<geometry><mesh filename="
                         f"{quoteattr('file://' + str(mesh_files[geom.meshname]))} scale=\"{scale}\"/>"
                         "</geometry></visual>")
        lines.append("  </link>")
        # Only the arm's hinges move in rviz: the gripper's linkage is drawn at rest, so /joint_states needs just
        # the seven arm joints for robot_state_publisher to place every link.
        hinges = [j for j in body.joints if j.type == mujoco.mjtJoint.mjJNT_HINGE and j.name in ARM_JOINTS]
        if hinges:
            joint = hinges[0]
            if joint.range[0] < joint.range[1]:
                limits = (f'<limit lower="{joint.range[0]:.6g}" upper="{joint.range[1]:.6g}" effort="87" '
                          'velocity="2.175"/>')
            else:
                limits = '<limit lower="-2.8973" upper="2.8973" effort="87" velocity="2.175"/>'
            axis = " ".join(f"{v:.6g}" for v in joint.axis)
            lines.append(f'  <joint name={quoteattr(ros_joint_name(joint.name))} type="revolute">'
                         f"<parent link={quoteattr(parent_link)}/><child link={quoteattr(link)}/>"
                         f'{_origin(body.pos, body.quat)}<axis xyz="{axis}"/>{limits}</joint>')
        else:
            lines.append(f'  <joint name={quoteattr(link + "_fixed")} type="fixed">'
                         f"<parent link={quoteattr(parent_link)}/><child link={quoteattr(link)}/>"
                         f"{_origin(body.pos, body.quat)}</joint>")
        for child in body.bodies:
            visit(child, link)

    for body in spec.worldbody.bodies:
        visit(body, ROOT_LINK)
    lines.append("</robot>")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="positronic-sim-urdf",
        description="Print the simulated Panda's URDF: the simulator's own kinematics, the seven arm joints named "
                    "panda_joint1..7 as in the ROS Franka stack, meshes as file:// URIs into the installed "
                    "package. The ROS launch files feed it to robot_state_publisher.")
    parser.add_argument("--output", metavar="FILE", help="write the URDF to FILE instead of standard output")
    args = parser.parse_args(argv)
    urdf = panda_urdf()
    if args.output is None:
        sys.stdout.write(urdf)
        return
    try:
        Path(args.output).write_text(urdf, encoding="utf-8")
    except OSError as exc:
        parser.exit(1, f"{parser.prog}: error: cannot write {args.output}: {exc.strerror or exc}\n")

if __name__ == "__main__":
    main()
