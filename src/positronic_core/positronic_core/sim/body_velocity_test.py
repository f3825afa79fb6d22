import numpy as np
import pytest

from positronic_core.sim.body_velocity import BodyVelocities

NAN3 = np.full(3, np.nan)


def test_a_finite_report_is_taken_as_it_is():
    velocities = BodyVelocities()
    assert velocities.velocity("box", [0.5, 0.0, 0.01], 0, [0.1, 0.2, 0.3]).tolist() == [0.1, 0.2, 0.3]


def test_a_missing_report_is_the_displacement_over_the_time_between_reports():
    velocities = BodyVelocities()
    assert velocities.velocity("box", [0.5, 0.0, 0.01], 1_000_000_000, NAN3).tolist() == [0.0, 0.0, 0.0]
    moved = velocities.velocity("box", [0.51, 0.0, 0.03], 1_020_000_000, NAN3)
    assert moved == pytest.approx([0.5, 0.0, 1.0])
    still = velocities.velocity("box", [0.51, 0.0, 0.03], 1_040_000_000, NAN3)
    assert still == pytest.approx([0.0, 0.0, 0.0])


def test_bodies_are_tracked_apart_and_a_repeated_stamp_keeps_the_last_estimate():
    velocities = BodyVelocities()
    velocities.velocity("red", [0.0, 0.0, 0.0], 0, NAN3)
    velocities.velocity("green", [1.0, 0.0, 0.0], 0, NAN3)
    assert velocities.velocity("red", [0.01, 0.0, 0.0], 10_000_000, NAN3) == pytest.approx([1.0, 0.0, 0.0])
    assert velocities.velocity("green", [1.0, 0.0, 0.0], 10_000_000, NAN3) == pytest.approx([0.0, 0.0, 0.0])
    # A duplicate message, or simulated time restarted by a world reset, divides by no time.
    assert velocities.velocity("red", [0.02, 0.0, 0.0], 10_000_000, NAN3) == pytest.approx([1.0, 0.0, 0.0])
    assert velocities.velocity("red", [0.5, 0.5, 0.0], 5_000_000, NAN3) == pytest.approx([1.0, 0.0, 0.0])


def test_after_a_reset_a_body_starts_at_rest_wherever_it_was_put():
    velocities = BodyVelocities()
    velocities.velocity("box", [0.0, 0.0, 0.0], 0, NAN3)
    velocities.reset()
    assert velocities.velocity("box", [0.3, 0.3, 0.0], 10_000_000, NAN3).tolist() == [0.0, 0.0, 0.0]
