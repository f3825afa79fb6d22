import numpy as np
import pytest

from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.sim.franka import HOME_Q
from positronic_core.sim.ik import SiteIK, rotation_error
from positronic_core.sim.scene import PANDA_PREFIX, build_model

JOINTS = [f"{PANDA_PREFIX}joint{i}" for i in range(1, 8)]


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_rotation_error_is_the_world_frame_rotation_vector():
    current = quat_wxyz_to_matrix(np.array([0.9, 0.1, -0.3, 0.2]))
    np.testing.assert_allclose(rotation_error(_rot_z(0.3) @ current, current), [0.0, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(rotation_error(current, current), np.zeros(3), atol=1e-12)


@pytest.fixture(scope="module")
def ik():
    model = build_model(camera_size=(64, 48), render_quality="fast")
    return SiteIK(model, f"{PANDA_PREFIX}pinch", JOINTS, rest_q=HOME_Q), model


def test_ik_recovers_poses_of_random_reachable_configurations(ik):
    ik, _ = ik
    rng = np.random.default_rng(0)
    for _ in range(10):
        q_goal = HOME_Q + rng.uniform(-0.4, 0.4, size=7)
        position, rotation = ik.site_pose(q_goal)
        result = ik.solve(position, rotation, HOME_Q)
        reached_position, reached_rotation = ik.site_pose(result.q)
        assert result.converged
        assert np.linalg.norm(reached_position - position) < 1e-3
        assert np.linalg.norm(rotation_error(rotation, reached_rotation)) < 5e-3


def test_ik_stays_within_joint_limits_for_an_unreachable_target(ik):
    ik, model = ik
    position, rotation = ik.site_pose(HOME_Q)
    result = ik.solve(position + (2.0, 0.0, 0.0), rotation, HOME_Q)
    assert not result.converged
    assert result.position_error > 0.5
    limits = np.array([model.joint(name).range for name in JOINTS])
    assert np.all(result.q >= limits[:, 0]) and np.all(result.q <= limits[:, 1])
