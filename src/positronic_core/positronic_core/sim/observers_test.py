import numpy as np
import pytest

from positronic_core.robot.commands import Action, JointPosition
from positronic_core.sim import StackCubesSim, observers
from positronic_core.sim.scene import GREEN_BOX, RED_BOX


def _scene(**changes) -> observers.StackingScene:
    values = dict(
        red_position=np.array([0.5, 0.0, 0.01]),
        red_start=np.array([0.5, 0.0, 0.01]),
        green_position=np.array([0.5, 0.0, 0.03]),
        green_velocity=np.zeros(3),
        gripper_position=np.array([0.5, 0.0, 0.25]),
        table_z=0.0,
        cube_half_height=0.01,
    )
    values.update({k: np.asarray(v, dtype=float) for k, v in changes.items()})
    return observers.StackingScene(**values)


def test_soft_scores_are_full_within_tolerance_and_zero_beyond_twice_it():
    assert observers.within(0.01, 0.025) == 1.0
    assert observers.within(0.0375, 0.025) == pytest.approx(0.5)
    assert observers.within(0.06, 0.025) == 0.0
    assert observers.at_least(0.2, 0.12) == 1.0
    assert observers.at_least(0.09, 0.12) == pytest.approx(0.5)
    assert observers.at_least(0.03, 0.12) == 0.0


def test_a_clean_stack_scores_one():
    assert observers.stacking_success(_scene()) == 1.0
    assert observers.box_distance(_scene()) == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"green_position": [0.7, 0.1, 0.01]}, "top_aligned"),
        ({"green_position": [0.5, 0.0, 0.08]}, "top_stacked"),
        ({"green_velocity": [0.0, 0.0, -0.1]}, "top_still"),
        ({"gripper_position": [0.5, 0.0, 0.05]}, "gripper_clear"),
        ({"red_position": [0.6, 0.0, 0.01], "green_position": [0.6, 0.0, 0.03]}, "base_stayed_put"),
        ({"red_position": [0.5, 0.0, 0.06], "green_position": [0.5, 0.0, 0.08]}, "base_on_table"),
    ],
)
def test_each_criterion_can_sink_the_score(change, failing):
    scene = _scene(**change)
    scores = observers.stacking_scores(scene)
    assert scores[failing] == 0.0
    assert observers.stacking_success(scene) == 0.0


@pytest.mark.parametrize("field", ["green_velocity", "red_position", "gripper_position"])
def test_a_criterion_that_cannot_be_evaluated_sinks_the_score(field):
    values = {"green_velocity": [np.nan, 0.0, 0.0], "red_position": [0.5, np.nan, 0.01],
              "gripper_position": [np.nan, np.nan, np.nan]}
    assert observers.stacking_success(_scene(**{field: values[field]})) == 0.0


def _put(sim: StackCubesSim, body: str, position) -> None:
    qpos = sim.model.jnt_qposadr[sim.model.joint(body).id]
    dof = sim.model.jnt_dofadr[sim.model.joint(body).id]
    sim.data.qpos[qpos : qpos + 7] = [*position, 1.0, 0.0, 0.0, 0.0]
    sim.data.qvel[dof : dof + 6] = 0.0


@pytest.fixture(scope="module")
def sim():
    sim = StackCubesSim(cameras=())
    yield sim
    sim.close()


def test_cubes_stacked_by_hand_succeed_and_apart_fail(sim):
    sim.reset(0)
    red = sim.privileged_state()["sim.box_red.pose"][:3]
    _put(sim, RED_BOX, red)
    _put(sim, GREEN_BOX, red + (0.0, 0.0, 0.0201))
    sim.apply(Action(JointPosition(sim.robot_state()["robot_state.q"]), 0.0))
    sim.advance(0.5)
    observed = sim.observers()
    assert observed["stacking_success"] == pytest.approx(1.0, abs=0.02)
    assert observed["box_distance"] == pytest.approx(0.02, abs=0.002)

    _put(sim, GREEN_BOX, red + (0.0, 0.15 if red[1] < 0 else -0.15, 0.0001))
    sim.advance(0.5)
    observed = sim.observers()
    assert observed["stacking_success"] == pytest.approx(0.0, abs=0.02)
    assert observed["box_distance"] == pytest.approx(0.15, abs=0.005)
