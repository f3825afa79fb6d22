import numpy as np
import pytest

from positronic_core.geometry import matrix_to_quat_wxyz
from positronic_core.policy.scripted import ScriptedStackingPolicy, Stage, gripper_down, wrap, yaw_of
from positronic_core.robot.commands import CartesianPosition

FPS = 15
EPISODE_SECONDS = 15.0
SUCCESS = 0.9


def _observation(
    ee_position=(0.45, 0.0, 0.25), ee_yaw=np.pi / 2, grip=0.0, green=(0.4, 0.1, 0.01), red=(0.6, -0.1, 0.01)
):
    def pose(position, yaw=0.0):
        return np.concatenate([position, [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]])

    ee = np.concatenate([ee_position, matrix_to_quat_wxyz(gripper_down(ee_yaw))])
    return {
        "robot_state.ee_pose": ee,
        "grip": grip,
        "sim.box_green.pose": pose(green, 0.3),
        "sim.box_red.pose": pose(red),
    }


def test_policy_declares_itself_scripted_and_privileged():
    policy = ScriptedStackingPolicy()
    assert policy.wants_privileged_state is True
    assert policy.meta["type"] == "scripted"


def test_gripper_down_is_a_rotation_pointing_down_with_the_given_yaw():
    rotation = gripper_down(0.7)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rotation), 1.0)
    np.testing.assert_allclose(rotation[:, 2], [0.0, 0.0, -1.0])
    assert np.isclose(yaw_of(rotation), 0.7)
    assert np.isclose(wrap(3 * np.pi / 4, np.pi / 2), -np.pi / 4)


def test_a_chunk_is_fifteen_timed_cartesian_actions_that_start_open_and_move_towards_the_green_cube():
    session = ScriptedStackingPolicy().new_session({"task": "stack"})
    observation = _observation()
    chunk = session.infer(observation)
    assert len(chunk) == 15
    assert [a.timestamp for a in chunk] == pytest.approx([i / 15 for i in range(15)])
    assert all(isinstance(a.command, CartesianPosition) and a.target_grip == 0.0 for a in chunk)
    start = np.asarray(observation["robot_state.ee_pose"][:3])
    green = observation["sim.box_green.pose"][:3]
    end = chunk[-1].command.translation
    assert np.linalg.norm(end[:2] - green[:2]) < np.linalg.norm(start[:2] - green[:2])
    # Every target keeps the gripper pointing down.
    for action in chunk:
        np.testing.assert_allclose(action.command.rotation[:, 2], [0.0, 0.0, -1.0], atol=1e-9)


def test_at_the_grasp_pose_it_closes_then_carries_what_it_holds():
    session = ScriptedStackingPolicy().new_session({})
    green = np.array([0.4, 0.1, 0.01])
    # The cube sits at yaw 0.3; the gripper at 0.3 + a quarter turn is aligned with it too.
    at_grasp = dict(ee_position=green + (0.0, 0.0, 0.008), ee_yaw=0.3 + np.pi / 2, green=green)
    chunk = session.infer(_observation(**at_grasp))
    assert session.stage is Stage.GRASP
    assert all(a.target_grip == 1.0 for a in chunk)
    session.infer(_observation(**at_grasp, grip=0.6))  # still closing
    session.infer(_observation(**at_grasp, grip=0.6))  # settled
    assert session.stage is Stage.CARRY


def test_closing_on_nothing_goes_back_to_picking():
    session = ScriptedStackingPolicy().new_session({})
    green = np.array([0.4, 0.1, 0.01])
    at_grasp = dict(ee_position=green + (0.0, 0.0, 0.008), ee_yaw=0.3, green=green)
    session.infer(_observation(**at_grasp))
    session.infer(_observation(**at_grasp, grip=1.0))
    session.infer(_observation(**at_grasp, grip=1.0))
    assert session.stage is Stage.PICK


def run_episode(sim, policy, seed: int) -> float:
    """The control loop's simplest form: a chunk when the queue is empty, one action per 1/15 s, no rendering."""
    sim.reset(seed)
    session = policy.new_session({"task": sim.TASK})
    queue = []
    for _ in range(round(EPISODE_SECONDS * FPS)):
        if not queue:
            queue = session.infer({**sim.robot_state(), **sim.privileged_state()})
        sim.apply(queue.pop(0))
        sim.advance(1 / FPS)
    return sim.observers()["stacking_success"]


@pytest.fixture(scope="module")
def sim():
    from positronic_core.sim import StackCubesSim

    sim = StackCubesSim(cameras=())
    yield sim
    sim.close()


def test_expert_stacks_in_a_few_seeded_episodes(sim):
    policy = ScriptedStackingPolicy()
    scores = [run_episode(sim, policy, seed) for seed in (100, 101, 102)]
    assert all(score > SUCCESS for score in scores), scores


@pytest.mark.slow
def test_expert_stacks_in_at_least_90_percent_of_20_episodes(sim):
    policy = ScriptedStackingPolicy()
    scores = [run_episode(sim, policy, seed) for seed in range(20)]
    rate = np.mean([score > SUCCESS for score in scores])
    print(f"scripted expert success rate: {rate:.0%} over {len(scores)} episodes")
    assert rate >= 0.9, scores
