import numpy as np
import pytest

from positronic_core.sim import control_scene, scene
from positronic_core.sim.scene_mirror import SceneMirror
from positronic_core.sim.stack_cubes import StackCubesSim

SIZE = (96, 72)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    path = control_scene.write_mjcf(tmp_path_factory.mktemp("control") / "stack_cubes.xml")
    mirror = SceneMirror(path, camera_size=SIZE, cameras=("image.exterior", "image.wrist"))
    yield mirror
    mirror.close()


def test_posed_from_the_simulators_joints_it_reports_and_renders_what_the_simulator_does(mirror):
    sim = StackCubesSim(camera_size=SIZE, cameras=("image.exterior", "image.wrist"))
    try:
        sim.reset(3)
        model = sim.model
        hinges = [i for i in range(model.njnt) if model.jnt_type[i] != 0]  # all but the cubes' free joints
        names = [model.joint(i).name.replace(scene.PANDA_PREFIX, control_scene.PREFIX) for i in hinges]
        mirror.set_joints(names, [sim.data.qpos[model.jnt_qposadr[i]] for i in hinges])
        for key, body in (("sim.box_red.pose", scene.RED_BOX), ("sim.box_green.pose", scene.GREEN_BOX)):
            mirror.set_body(body, sim.privileged_state()[key], np.zeros(3))
        mirror.update()
        state = sim.robot_state()
        np.testing.assert_allclose(mirror.ee_pose, state["robot_state.ee_pose"], atol=1e-6)
        assert mirror.grip == pytest.approx(state["grip"], abs=1e-6)
        for name, frame in sim.render().items():
            difference = np.abs(mirror.render([name])[name].astype(int) - frame.astype(int)).mean()
            assert difference < 2.0, f"{name} differs by {difference} grey levels on average"
    finally:
        sim.close()


def test_a_green_cube_resting_on_the_red_one_scores_as_stacked(mirror):
    mirror.set_joints([control_scene.GRIPPER_JOINT], [0.0])
    red = np.array([0.5, 0.0, scene.BOX_HALF_EXTENTS[2], 1.0, 0.0, 0.0, 0.0])
    mirror.set_body(scene.RED_BOX, red, np.zeros(3))
    mirror.update()
    mirror.start_episode()
    mirror.set_body(scene.GREEN_BOX, red + [0, 0, 2 * scene.BOX_HALF_EXTENTS[2], 0, 0, 0, 0], np.zeros(3))
    mirror.update()
    assert mirror.observers()["stacking_success"] == 1.0
    np.testing.assert_allclose(mirror.privileged_state()["sim.box_red.pose"], red)
