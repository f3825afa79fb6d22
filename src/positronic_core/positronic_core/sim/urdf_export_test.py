"""The exported URDF's kinematics match the simulator's: forward kinematics from the URDF alone lands every arm
link where MuJoCo puts it."""

import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from positronic_core.sim.assets import panda_xml
from positronic_core.sim.urdf_export import main, panda_urdf


def _rot(rpy):
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _axis_angle(axis, angle):
    axis = np.asarray(axis) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _urdf_fk(urdf: str, q: dict[str, float]) -> dict[str, np.ndarray]:
    root = ET.fromstring(urdf)
    joints = {j.find("child").get("link"): j for j in root.findall("joint")}
    poses = {"world": np.eye(4)}

    def pose(link):
        if link in poses:
            return poses[link]
        joint = joints[link]
        origin = joint.find("origin")
        local = np.eye(4)
        local[:3, :3] = _rot([float(v) for v in origin.get("rpy").split()])
        local[:3, 3] = [float(v) for v in origin.get("xyz").split()]
        if joint.get("type") == "revolute":
            motion = np.eye(4)
            motion[:3, :3] = _axis_angle([float(v) for v in joint.find("axis").get("xyz").split()],
                                         q[joint.get("name")])
            local = local @ motion
        poses[link] = pose(joint.find("parent").get("link")) @ local
        return poses[link]

    for link in joints:
        pose(link)
    return poses


def test_urdf_forward_kinematics_matches_mujoco():
    urdf = panda_urdf()
    model = mujoco.MjModel.from_xml_path(str(panda_xml()))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(3)
    q = {}
    for i in range(1, 8):
        joint = model.joint(f"joint{i}")
        lo, hi = model.jnt_range[joint.id] if model.jnt_limited[joint.id] else (-2.5, 2.5)
        data.qpos[model.jnt_qposadr[joint.id]] = q[f"panda_joint{i}"] = rng.uniform(lo, hi)
    mujoco.mj_forward(model, data)
    poses = _urdf_fk(urdf, q)
    for i in range(1, 8):
        body = model.body(f"link{i}")
        np.testing.assert_allclose(poses[f"link{i}"][:3, 3], data.xpos[body.id], atol=1e-5)
        np.testing.assert_allclose(poses[f"link{i}"][:3, :3], data.xmat[body.id].reshape(3, 3), atol=1e-5)


def test_urdf_names_the_arm_joints_and_points_at_existing_meshes():
    root = ET.fromstring(panda_urdf())
    revolute = [j.get("name") for j in root.findall("joint") if j.get("type") == "revolute"]
    assert [f"panda_joint{i}" for i in range(1, 8)] == [n for n in revolute if n.startswith("panda_joint")]
    meshes = [m.get("filename") for m in root.iter("mesh")]
    assert len(meshes) > 10
    assert all(m.startswith("file://") and Path(m[len("file://"):]).is_file() for m in meshes)


def test_help_describes_the_command_instead_of_printing_the_urdf(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: positronic-sim-urdf") and "--output FILE" in out and "<robot" not in out


def test_an_unknown_argument_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--bogus"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_output_writes_the_same_urdf_as_standard_output(tmp_path: Path, capsys) -> None:
    main([])
    printed = capsys.readouterr().out
    main([f"--output={tmp_path / 'panda.urdf'}"])
    assert (tmp_path / "panda.urdf").read_text(encoding="utf-8") == printed
    with pytest.raises(SystemExit) as stopped:
        main([f"--output={tmp_path / 'missing' / 'panda.urdf'}"])
    assert stopped.value.code == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("positronic-sim-urdf: error: cannot write") and "No such file" in line
