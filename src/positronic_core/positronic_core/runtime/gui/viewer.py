"""The "Positronic Viewer": live camera images and the robot's state while a driver runs episodes.

The timed and keyboard drivers open it with `--driver.show_gui=True` and call `update(robot, episode)` from their
loops as often as they like; the viewer draws at most `gui_fps` frames per second and re-renders cameras only when the
episode moved (see `camera_grid`), so a fast unpaced run is not slowed to the GUI's pace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dearpygui.dearpygui as dpg
import numpy as np

from positronic_core.runtime.gui.app import DpgApp
from positronic_core.runtime.gui.camera_grid import CameraGrid

if TYPE_CHECKING:
    from positronic_core.runtime.robot import Robot
    from positronic_core.runtime.sim_runtime import RunningEpisode

INFO_WIDTH = 330


def _vector(values: Any, digits: int = 3) -> str:
    return "[" + " ".join(f"{v:+.{digits}f}" for v in np.asarray(values, dtype=float).ravel()) + "]"


def describe(state: Mapping[str, Any], episode: RunningEpisode | None) -> str:
    """The info panel's text: the episode's progress, then the robot's state."""
    lines = []
    if episode is None:
        lines += ["no episode running", ""]
    else:
        stats = episode.loop.stats
        lines += [
            f"episode    {episode.index} (seed {episode.seed})",
            f"sim time   {episode.now:.2f} s",
            f"idle ticks {stats.idle_ticks} ({stats.idle_ticks_after_first} after the first action)",
            f"requests   {stats.requests}",
            "",
        ]
    pose = np.asarray(state["robot_state.ee_pose"], dtype=float)
    q = np.asarray(state["robot_state.q"], dtype=float)
    lines += [
        f"grip       {float(state['grip']):.2f}",
        f"ee xyz     {_vector(pose[:3])}",
        f"ee wxyz    {_vector(pose[3:])}",
        "q",
        f"  {_vector(q[:4], 2)}",
        f"  {_vector(q[4:], 2)}",
    ]
    return "\n".join(lines)


class CameraViewer:
    """A window with the cameras in a grid and an info panel; `update` draws one frame."""

    def __init__(self, cameras: Sequence[str], *, title: str = "Positronic Viewer", box: tuple[int, int] = (320, 240),
                 camera_fps: float = 10.0, gui_fps: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cameras = list(cameras)
        self.clock = clock
        self.frame_interval = 1.0 / gui_fps
        grid_w, grid_h = CameraGrid.panel_size(len(self.cameras), box)
        self.app = DpgApp(title, grid_w + INFO_WIDTH + 40, max(grid_h, 260) + 40)
        try:
            with dpg.window(tag="viewer.window", no_title_bar=True, no_move=True, no_resize=True):
                with dpg.group(horizontal=True):
                    cameras_panel = dpg.add_group()
                    with dpg.child_window(width=INFO_WIDTH, border=True):
                        dpg.add_text("Info")
                        dpg.add_separator()
                        self._info = dpg.add_text("waiting for the first frame")
            dpg.set_primary_window("viewer.window", True)
            self.grid = CameraGrid(self.cameras, cameras_panel, box=box, max_fps=camera_fps, clock=clock)
            self.app.show()
        except BaseException:
            self.app.close()
            raise
        self._next_frame = -math.inf

    def update(self, robot: Robot, episode: RunningEpisode | None) -> bool:
        """Refresh the window if a frame is due. False once the window has been closed."""
        if not self.app.is_open:
            return False
        now = self.clock()
        if now < self._next_frame:
            return True
        self._next_frame = now + self.frame_interval
        self.grid.refresh(robot, None if episode is None else (episode.index, episode.now))
        dpg.set_value(self._info, describe(robot.robot_state(), episode))
        return self.app.frame()

    @property
    def info(self) -> str:
        """The info panel's current text."""
        return dpg.get_value(self._info)

    def image_rect(self, camera: str) -> tuple[int, int, int, int]:
        """Where a camera's image is drawn, (x, y, width, height) in viewport pixels."""
        return self.grid.image_rect(camera)

    def screenshot(self) -> np.ndarray:
        """The window as drawn by the next frame: uint8 (height, width, 3)."""
        return self.app.screenshot()

    def close(self) -> None:
        self.app.close()
