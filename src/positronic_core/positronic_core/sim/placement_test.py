import numpy as np

from positronic_core.sim.placement import MIN_SEPARATION, X_RANGE, Y_RANGE, YAW_RANGE, place_cubes


def test_placements_are_in_range_and_apart():
    rng = np.random.default_rng(0)
    for _ in range(200):
        red, green = place_cubes(rng)
        for p in (red, green):
            assert X_RANGE[0] <= p.x <= X_RANGE[1] and Y_RANGE[0] <= p.y <= Y_RANGE[1]
            assert YAW_RANGE[0] <= p.yaw <= YAW_RANGE[1]
        assert np.hypot(red.x - green.x, red.y - green.y) >= MIN_SEPARATION


def test_placements_repeat_for_a_seed_and_differ_across_seeds():
    assert place_cubes(np.random.default_rng(7)) == place_cubes(np.random.default_rng(7))
    assert place_cubes(np.random.default_rng(7)) != place_cubes(np.random.default_rng(8))


def test_placement_quaternion_is_a_unit_yaw():
    p = place_cubes(np.random.default_rng(1))[0]
    q = p.quat_wxyz()
    assert np.isclose(np.linalg.norm(q), 1.0) and q[1] == 0.0 and q[2] == 0.0
    assert np.isclose(2 * np.arctan2(q[3], q[0]), p.yaw)
