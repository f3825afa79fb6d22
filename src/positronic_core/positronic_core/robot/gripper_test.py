import pytest

from positronic_core.robot.gripper import GripLatch, grip_from_width


def test_width_maps_to_grip_and_is_clamped():
    assert grip_from_width(0.08, 0.08) == 0.0
    assert grip_from_width(0.0, 0.08) == 1.0
    assert grip_from_width(0.02, 0.08) == pytest.approx(0.75)
    assert grip_from_width(0.09, 0.08) == 0.0
    with pytest.raises(ValueError, match="max width"):
        grip_from_width(0.01, 0.0)


def test_a_stream_of_targets_sends_one_goal_per_crossing():
    latch = GripLatch()
    goals = [latch.goal(g) for g in (0.0, 0.1, 0.4, 0.6, 0.9, 1.0, 0.2, 0.0)]
    assert goals == ["open", None, None, "close", None, None, "open", None]
