"""Camera images in a DearPyGui grid, re-rendered only when the scene has moved and the render budget allows.

Rendering is the simulator's cost floor (tens of milliseconds per camera in software GL), and a recording episode
already renders every camera at every tick. So a grid renders again only when its scene key changes (the episode
advanced or a new one started) and, at most, often enough that its own rendering takes `LOAD_SHARE` of the wall
time (but at least once a second): three 320x240 cameras at ~40 ms each refresh about twice a second rather than
slowing the episode down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg
import numpy as np

if TYPE_CHECKING:
    from positronic_core.runtime.robot import Robot

#: Largest fraction of wall time the grid may spend rendering camera frames.
LOAD_SHARE = 0.25
#: Longest wait between refreshes of a moving scene, however slow rendering is (the first render, which also sets up
#: MuJoCo's GL context, can take a second on its own).
MAX_INTERVAL = 1.0
_NOTHING = object()


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows) of a square-ish grid for `count` cameras."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return columns, max(1, math.ceil(count / columns))


def display_size(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The frame's size scaled to fit `box` (width, height), aspect ratio kept."""
    scale = min(box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def texture_data(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> the flat float32 RGBA that a DearPyGui raw texture takes."""
    height, width = frame.shape[:2]
    rgba = np.empty((height, width, 4), dtype=np.float32)
    rgba[..., :3] = frame[..., :3]
    rgba[..., :3] *= np.float32(1.0 / 255.0)
    rgba[..., 3] = 1.0
    return rgba.reshape(-1)


class CameraGrid:
    """A labelled image per camera inside `parent`; textures are made at the first frame, sized to it."""

    def __init__(self, names: Sequence[str], parent: int | str, *, box: tuple[int, int] = (320, 240),
                 max_fps: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.names = list(names)
        self.box = (int(box[0]), int(box[1]))
        self.min_interval = 1.0 / max_fps
        self.clock = clock
        #: The frames on screen now, by camera name.
        self.frames: dict[str, np.ndarray] = {}
        self._registry = dpg.add_texture_registry()
        self._cells: dict[str, int | str] = {}
        self._textures: dict[str, int | str] = {}
        self._images: dict[str, int | str] = {}
        #: The scene key of the frames on screen.
        self.scene: object = _NOTHING
        self._next_render = -math.inf
        columns, _ = grid_shape(len(self.names))
        row = None
        for i, name in enumerate(self.names):
            if i % columns == 0:
                row = dpg.add_group(horizontal=True, parent=parent)
            cell = dpg.add_group(parent=row, width=self.box[0])
            dpg.add_text(name, parent=cell)
            self._cells[name] = cell
        if not self.names:
            dpg.add_text("no cameras configured", parent=parent)

    @classmethod
    def panel_size(cls, count: int, box: tuple[int, int]) -> tuple[int, int]:
        """Width and height the grid needs in a window, label rows and padding included."""
        columns, rows = grid_shape(count)
        return columns * (box[0] + 8), rows * (box[1] + 28)

    def refresh(self, robot: Robot, scene: Hashable) -> bool:
        """Render and show new frames if `scene` differs from what is on screen and the budget allows."""
        if not self.names:
            return False
        now = self.clock()
        if self.frames and (scene == self.scene or now < self._next_render):
            return False
        started = time.perf_counter()
        frames = robot.render(self.names)
        cost = time.perf_counter() - started
        self.show(frames)
        self.scene = scene
        self._next_render = now + min(max(self.min_interval, cost / LOAD_SHARE), MAX_INTERVAL)
        return True

    def show(self, frames: Mapping[str, np.ndarray]) -> None:
        for name in self.names:
            frame = frames.get(name)
            if frame is None:
                continue
            frame = np.array(frame, dtype=np.uint8, copy=True)
            if name in self.frames and self.frames[name].shape != frame.shape:
                dpg.delete_item(self._images.pop(name))
                dpg.delete_item(self._textures.pop(name))
            if name not in self._textures:
                height, width = frame.shape[:2]
                self._textures[name] = dpg.add_raw_texture(width, height, texture_data(frame),
                                                           format=dpg.mvFormat_Float_rgba, parent=self._registry)
                shown_w, shown_h = display_size(width, height, self.box)
                self._images[name] = dpg.add_image(self._textures[name], width=shown_w, height=shown_h,
                                                   parent=self._cells[name])
            else:
                dpg.set_value(self._textures[name], texture_data(frame))
            self.frames[name] = frame

    def image_rect(self, name: str) -> tuple[int, int, int, int]:
        """(x, y, width, height) of a camera's image in viewport pixels, as of the last drawn frame."""
        item = self._images[name]
        x, y = dpg.get_item_rect_min(item)
        width, height = dpg.get_item_rect_size(item)
        return int(x), int(y), int(width), int(height)
