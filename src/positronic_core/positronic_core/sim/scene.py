"""Build the stack-cubes MjModel: our scene MJCF, the gym-hil Panda attached at the origin, and the cameras."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from positronic_core.geometry import matrix_to_quat_wxyz
from positronic_core.sim.assets import SCENE_FILE, panda_xml
from positronic_core.sim.mesh_lod import simplify_visual_meshes

PANDA_PREFIX = "panda/"
TABLE_TOP_Z = 0.0
BOX_HALF_EXTENTS = (0.02, 0.02, 0.01)
RED_BOX = "box_0"
GREEN_BOX = "box_1"
RENDER_QUALITIES = ("fast", "default")


@dataclass(frozen=True)
class LookAt:
    """A camera at `eye` looking at `target`, both in the frame of `body` (None = world)."""

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fovy: float = 45.0
    body: str | None = None


#: Observation key -> (MuJoCo camera name, placement).
CAMERAS: dict[str, tuple[str, LookAt]] = {
    # On the Robotiq base (z runs along the fingers, y is the closing axis): offset to the side so the fingertips
    # and what lies between them stay in view, as on DROID's wrist camera.
    "image.wrist": (
        "wrist",
        LookAt(eye=(-0.1, 0.0, -0.01), target=(0.0, 0.0, 0.3), up=(-1.0, 0.0, 0.0), fovy=75.0, body="base"),
    ),
    "image.exterior": ("exterior", LookAt(eye=(0.9, -0.6, 0.4), target=(0.42, 0.0, 0.08), fovy=55.0)),
    "image.agent_view": ("agent_view", LookAt(eye=(1.15, 0.0, 0.6), target=(0.4, 0.0, 0.05), fovy=50.0)),
}


def look_at_quat(look: LookAt) -> np.ndarray:
    """wxyz orientation of a MuJoCo camera (it looks along its -z, with +y up in the image)."""
    forward = np.subtract(look.target, look.eye)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, look.up)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return matrix_to_quat_wxyz(np.column_stack([right, up, -forward]))


def build_spec(*, render_quality: str, prefix: str = PANDA_PREFIX) -> mujoco.MjSpec:
    """The scene before compiling: our MJCF, the Panda attached at the origin under `prefix`, the cameras. Mesh
    files are named by absolute path, so the spec can be written out and loaded from anywhere."""
    if render_quality not in RENDER_QUALITIES:
        raise ValueError(f"render_quality must be one of {RENDER_QUALITIES}, got {render_quality!r}")
    scene = mujoco.MjSpec.from_file(str(SCENE_FILE))
    panda = mujoco.MjSpec.from_file(str(panda_xml()))
    mesh_dir = Path(panda.modelfiledir) / panda.meshdir
    for mesh in panda.meshes:
        if mesh.file:
            mesh.file = str(mesh_dir / mesh.file)
    if render_quality == "fast":
        simplify_visual_meshes(panda)
    scene.attach(panda, frame=scene.worldbody.add_frame(), prefix=prefix)
    for mj_name, look in CAMERAS.values():
        parent = scene.worldbody if look.body is None else scene.body(prefix + look.body)
        parent.add_camera(name=mj_name, pos=list(look.eye), quat=list(look_at_quat(look)), fovy=look.fovy)
    return scene


def set_render_options(model: mujoco.MjModel, *, camera_size: tuple[int, int], render_quality: str) -> None:
    width, height = camera_size
    # The offscreen framebuffer must be at least as large as any image we ask of it.
    model.vis.global_.offwidth = max(int(width), int(model.vis.global_.offwidth))
    model.vis.global_.offheight = max(int(height), int(model.vis.global_.offheight))
    if render_quality == "fast":
        # Software GL spends most of a frame on the shadow map and multisampling: about 310 ms -> 39 ms at 320x240
        # (the clustered meshes above halve what remains).
        model.vis.quality.shadowsize = 0
        model.vis.quality.offsamples = 0


def build_model(*, camera_size: tuple[int, int], render_quality: str) -> mujoco.MjModel:
    model = build_spec(render_quality=render_quality).compile()
    set_render_options(model, camera_size=camera_size, render_quality=render_quality)
    return model
