from positronic_core import stacking_task
from positronic_core.stacking_task import stacking_outcome


def test_a_stack_counts_only_when_held_for_half_a_second():
    tick = 1 / 15
    held = [(i * tick, 1.0) for i in range(9)]
    assert stacking_outcome(held) is True
    assert stacking_outcome(held[:8]) is False
    flicker = [(i * tick, 1.0 if i % 4 else 0.5) for i in range(30)]
    assert stacking_outcome(flicker) is False


def test_the_named_cameras_are_the_scenes_cameras():
    from positronic_core.sim import scene

    assert set(stacking_task.CAMERAS) == set(scene.CAMERAS)
