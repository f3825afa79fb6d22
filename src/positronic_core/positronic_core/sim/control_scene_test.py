import ctypes
import os
from pathlib import Path

import mujoco
import numpy as np
import pytest

from positronic_core.sim import control_scene
from positronic_core.sim.franka import HOME_Q
from positronic_core.sim.stack_cubes import StackCubesSim


def _overlay_mujoco() -> Path | None:
    """The libmujoco that mujoco_ros2_control links, from a sourced (or the usual) ros2_control overlay."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":") if p] + ["/opt/ros/jazzy-control"]
    for prefix in prefixes:
        library = Path(prefix) / "opt" / "mujoco_vendor" / "lib" / "libmujoco.so"
        if library.is_file():
            return library
    return None


@pytest.fixture(scope="module")
def mjcf(tmp_path_factory):
    return control_scene.write_mjcf(tmp_path_factory.mktemp("control") / "stack_cubes.xml")


def test_each_ros2_control_joint_has_the_position_actuator_the_hardware_interface_looks_for(mjcf):
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    for joint in control_scene.JOINTS:
        driving = np.flatnonzero((model.actuator_trnid[:, 0] == model.joint(joint).id)
                                 & (model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT))
        assert len(driving) == 1, joint
        # What mujoco_ros2_control calls a position actuator: an affine bias with a position term.
        assert model.actuator_biastype[driving[0]] == mujoco.mjtBias.mjBIAS_AFFINE
        assert model.actuator_biasprm[driving[0], 1] < 0
    gripper = model.actuator(control_scene.GRIPPER_JOINT)
    assert model.actuator_trntype[gripper.id] == mujoco.mjtTrn.mjTRN_TENDON
    np.testing.assert_allclose(model.actuator_ctrlrange[gripper.id], [0.0, control_scene.GRIPPER_CLOSED])


def test_the_home_keyframe_holds_the_arm_where_the_simulator_homes_it_and_the_gripper_closes_in_radians(mjcf):
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key(control_scene.HOME_KEY).id)
    data.ctrl[model.actuator(control_scene.GRIPPER_JOINT).id] = control_scene.GRIPPER_CLOSED
    mujoco.mj_step(model, data, nstep=int(1.0 / model.opt.timestep))
    q = np.array([data.qpos[model.joint(j).qposadr[0]] for j in control_scene.JOINTS])
    np.testing.assert_allclose(q, HOME_Q, atol=2e-3)
    assert data.qpos[model.joint(control_scene.GRIPPER_JOINT).qposadr[0]] > 0.75
    sim = StackCubesSim(cameras=())
    try:
        home_ee = sim.robot_state()["robot_state.ee_pose"]
    finally:
        sim.close()
    np.testing.assert_allclose(data.site(control_scene.PREFIX + "pinch").xpos, home_ee[:3], atol=2e-3)


def test_the_file_loads_in_the_mujoco_that_mujoco_ros2_control_links(mjcf):
    library = _overlay_mujoco()
    if library is None:
        pytest.skip("needs the ros2_control overlay's MuJoCo (opt/mujoco_vendor/lib/libmujoco.so under "
                    "/opt/ros/jazzy-control or AMENT_PREFIX_PATH)")
    mj = ctypes.CDLL(str(library))
    mj.mj_versionString.restype = ctypes.c_char_p
    mj.mj_loadXML.restype = ctypes.c_void_p
    mj.mj_loadXML.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    mj.mj_deleteModel.argtypes = [ctypes.c_void_p]
    error = ctypes.create_string_buffer(1000)
    model = mj.mj_loadXML(str(mjcf).encode(), None, error, len(error))
    assert model, f"MuJoCo {mj.mj_versionString().decode()} refused the scene: {error.value.decode()}"
    mj.mj_deleteModel(model)
