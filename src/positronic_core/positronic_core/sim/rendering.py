"""Camera images on demand: one offscreen renderer, created at the first request, drawing only the cameras asked for.

Rendering is the simulator's cost floor (tens of milliseconds per frame in software GL against about 50 us per
physics step), so nothing here runs unless an observation or a recorder asks for a frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import mujoco
import numpy as np

from positronic_core.sim import gl_backend


class CameraRenderer:
    def __init__(self, model: mujoco.MjModel, cameras: Mapping[str, str], size: tuple[int, int]) -> None:
        """`cameras` maps observation keys (`image.wrist`) to MuJoCo camera names; `size` is (width, height)."""
        self._model = model
        self._camera_ids = {key: model.camera(name).id for key, name in cameras.items()}
        self._width, self._height = int(size[0]), int(size[1])
        self._renderer: mujoco.Renderer | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._camera_ids)

    def render(self, data: mujoco.MjData, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        wanted = self.names if names is None else tuple(names)
        unknown = [name for name in wanted if name not in self._camera_ids]
        if unknown:
            raise KeyError(f"unknown camera(s) {unknown}; this simulator has {list(self._camera_ids)}")
        if not wanted:
            return {}
        renderer = self._ensure_renderer()
        images = {}
        for name in wanted:
            renderer.update_scene(data, camera=self._camera_ids[name])
            images[name] = renderer.render()
        return images

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _ensure_renderer(self) -> mujoco.Renderer:
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self._model, height=self._height, width=self._width)
            except Exception as e:  # MuJoCo raises several types here, all meaning "no usable GL context".
                backend = gl_backend.BACKEND or "none (MUJOCO_GL unset, no EGL device or OSMesa found)"
                raise RuntimeError(
                    f"cannot create a MuJoCo renderer with backend {backend}: {e}. {gl_backend.INSTALL_HINT}"
                ) from e
        return self._renderer
