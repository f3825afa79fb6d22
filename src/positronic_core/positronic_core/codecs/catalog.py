"""The codecs the server and training export know by name (`--codec=`).

- `ee`: upstream Positronic's LeRobot `eepose_absolute`, with its feature names so that upstream-trained ACT
  checkpoints load unchanged. State = `robot_state.ee_pose` (x, y, z, qw, qx, qy, qz) + `grip` (8);
  `observation.images.left` <- `image.wrist`, `observation.images.side` <- `image.exterior`, 224x224 with padding;
  action = absolute pose (xyz + wxyz quaternion) + grip (8) -> `cartesian_pos` + `target_grip`.
- `joints`: upstream's `joints_absolute`. State = `robot_state.q` (7) + `grip`; the same cameras; action = 7 joint
  positions + grip -> `joint_pos` + `target_grip`.
- `ee_joints`: upstream's openpi `ee_joints` (guide era: `eepose_q`). State = `robot_state.ee_pose` + `grip` +
  `robot_state.q` (15); the same cameras and action as `ee`.

All stamp action i of a chunk at i / 15 s. The openpi backend feeds the same codecs to openpi under its own input
names (see serve/backends/openpi.py); openpi trains on these LeRobot features.

Upstream Positronic's docs and docker commands name codecs by import path (`--codec=@positronic.vendors.lerobot.
codecs.ee`); `UPSTREAM_CODEC_PATHS` maps each path whose inference behaviour is one of ours to that codec.
"""

from __future__ import annotations

from positronic_core.codecs.actions import AbsoluteEEPoseAction, AbsoluteJointsAction
from positronic_core.codecs.codec import Codec, ImageInput, StateInput

#: The policy rate the simulator, the robot loop and upstream's codecs share.
DEFAULT_ACTION_FPS = 15.0

_CAMERAS = (
    ImageInput(feature="observation.images.left", key="image.wrist", width=224, height=224),
    ImageInput(feature="observation.images.side", key="image.exterior", width=224, height=224),
)

CODECS: dict[str, Codec] = {
    "ee": Codec(
        name="ee",
        state=(StateInput("robot_state.ee_pose", 7), StateInput("grip", 1)),
        images=_CAMERAS,
        action=AbsoluteEEPoseAction(),
        action_fps=DEFAULT_ACTION_FPS,
    ),
    "ee_joints": Codec(
        name="ee_joints",
        state=(StateInput("robot_state.ee_pose", 7), StateInput("grip", 1), StateInput("robot_state.q", 7)),
        images=_CAMERAS,
        action=AbsoluteEEPoseAction(),
        action_fps=DEFAULT_ACTION_FPS,
    ),
    "joints": Codec(
        name="joints",
        state=(StateInput("robot_state.q", 7), StateInput("grip", 1)),
        images=_CAMERAS,
        action=AbsoluteJointsAction(),
        action_fps=DEFAULT_ACTION_FPS,
    ),
}


#: Upstream's codec paths (GUIDE and 0.2.x names) -> ours. Upstream 0.2.x's LeRobot `ee`/`joints` resize to 512x512;
#: the checkpoints of the guide's era (its `eepose_absolute`/`joints_absolute`) and ours use 224x224.
UPSTREAM_CODEC_PATHS: dict[str, str] = {
    "@positronic.vendors.lerobot.codecs.ee": "ee",
    "@positronic.vendors.lerobot.codecs.eepose_absolute": "ee",
    "@positronic.vendors.lerobot.codecs.joints": "joints",
    "@positronic.vendors.lerobot.codecs.joints_absolute": "joints",
    "@positronic.vendors.openpi.codecs.ee": "ee",
    "@positronic.vendors.openpi.codecs.eepose": "ee",
    "@positronic.vendors.openpi.codecs.ee_joints": "ee_joints",
    "@positronic.vendors.openpi.codecs.eepose_q": "ee_joints",
}


class UnknownCodecError(LookupError):
    """A codec name that is not in `CODECS`; the message lists the known names."""


def get_codec(name: str | Codec) -> Codec:
    """The codec called `name` (a `Codec` passes through); an unknown name raises `UnknownCodecError`."""
    if isinstance(name, Codec):
        return name
    if isinstance(name, str):
        name = UPSTREAM_CODEC_PATHS.get(name, name)
        if name in CODECS:
            return CODECS[name]
    raise UnknownCodecError(f"unknown codec {name!r}; available codecs: {', '.join(sorted(CODECS))} (or upstream's "
                            f"paths for them, e.g. {next(iter(UPSTREAM_CODEC_PATHS))})")
