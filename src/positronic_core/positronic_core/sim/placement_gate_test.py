import numpy as np

from positronic_core.sim.placement import Placement
from positronic_core.sim.placement_gate import PlacementGate, Poses

PLACED = {"box_0": Placement(0.552, -0.129, 0.3), "box_1": Placement(0.316, 0.175, -0.2)}
AT_PLACEMENTS = {"box_0": np.array([0.552, -0.129, 0.01]), "box_1": np.array([0.3162, 0.1749, 0.01])}
# The keyframe's positions, which the first messages after mujoco_ros2_control's reset can still carry.
KEYFRAME = {"box_0": np.array([0.5, -0.1, 0.01]), "box_1": np.array([0.5, 0.1, 0.01])}


def test_poses_before_any_reset_are_current():
    assert PlacementGate().check(KEYFRAME, 0) is Poses.CURRENT


def test_after_a_reset_old_poses_are_stale_until_the_cubes_show_at_their_placements():
    gate = PlacementGate()
    gate.expect(PLACED, bound_ns=1_000_000_000)
    assert gate.check(KEYFRAME, 10_002_000_000) is Poses.STALE
    assert gate.check({"box_0": AT_PLACEMENTS["box_0"], "box_1": KEYFRAME["box_1"]}, 10_004_000_000) is Poses.STALE
    assert gate.check(AT_PLACEMENTS, 10_006_000_000) is Poses.FIRST
    moved = {"box_0": np.array([0.6, 0.0, 0.01]), "box_1": AT_PLACEMENTS["box_1"]}
    assert gate.check(moved, 10_008_000_000) is Poses.CURRENT  # the episode's own motion from here on


def test_cubes_never_seen_at_their_placements_are_taken_once_the_bound_has_passed_since_the_first_pose():
    gate = PlacementGate()
    gate.expect(PLACED, bound_ns=1_000_000_000)
    # Simulated time is already 6 s along: the bound runs from the first pose after the reset, not from zero.
    assert gate.check(KEYFRAME, 6_000_000_000) is Poses.STALE
    assert gate.check(KEYFRAME, 6_999_000_000) is Poses.STALE
    assert gate.check(KEYFRAME, 7_000_000_000) is Poses.FIRST
