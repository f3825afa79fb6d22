"""The stack-cubes task, stated once: its instruction, and the rule that turns the live `stacking_success` score
(see `sim.observers`) into a verdict. Kept free of MuJoCo so readers of recorded runs can apply the same rule."""

from __future__ import annotations

from collections.abc import Iterable

TASK = "Pick up the green cube and place it on the red cube."
#: The cubes' poses (x, y, z, qw, qx, qy, qz): privileged simulator state, observed only by policies that ask for it
#: (the scripted expert).
RED_CUBE_POSE = "sim.box_red.pose"
GREEN_CUBE_POSE = "sim.box_green.pose"
PRIVILEGED_KEYS = (RED_CUBE_POSE, GREEN_CUBE_POSE)
#: The scene's cameras, as observation keys.
CAMERAS = ("image.wrist", "image.exterior", "image.agent_view")

#: A stack counts when `stacking_success` stays at or above this ...
SUCCESS_THRESHOLD = 0.95
#: ... for at least this long (seconds), so a cube passing through the target pose does not count.
SUCCESS_HOLD_S = 0.5


def stacking_outcome(history: Iterable[tuple[float, float]], threshold: float = SUCCESS_THRESHOLD,
                     hold_s: float = SUCCESS_HOLD_S) -> bool:
    """Success = `stacking_success` at or above `threshold` continuously for at least `hold_s` seconds.

    `history` is (seconds, score) in time order."""
    start = None
    for t, value in history:
        if value >= threshold:
            start = t if start is None else start
            if t - start >= hold_s - 1e-9:
                return True
        else:
            start = None
    return False
