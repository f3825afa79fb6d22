"""One DearPyGui window per process, drawn frame by frame from the caller's loop.

DearPyGui keeps a single global context: any `dpg` call made before `create_context()` segfaults, and a second window
cannot coexist with the first. `DpgApp` checks the display, creates the context before anything else, refuses a
second instance while one is open, and runs item callbacks itself (manual callback management) inside `frame()`, so
they run on the caller's thread and never while the simulator is in the middle of a tick.

Without a reachable X display DearPyGui aborts the whole process (a GLFW assertion), so `DpgApp` opens the display
first and raises `DisplayUnavailable` with a readable reason instead.

One window per process, for the life of the process: DearPyGui 2.3.1 segfaulted (in ImGui's GLFW focus callback, at
the first frame) when a second window was opened after the first one closed, once MuJoCo had created or closed a
renderer in between, which is what every window of ours does. Drivers open one window per run, so this costs them
nothing; tests run each window in a child process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any, ClassVar

import dearpygui.dearpygui as dpg
import numpy as np

from positronic_core.runtime.gui.gl_handoff import GlxParking


class DisplayUnavailable(RuntimeError):
    """No X display to open a window on."""


def check_display() -> None:
    """Raise DisplayUnavailable unless an X display can be opened right now."""
    name = os.environ.get("DISPLAY")
    if not name:
        raise DisplayUnavailable(
            "DISPLAY is not set; run on a desktop session, over `ssh -X`, or under a virtual screen "
            "(`xvfb-run -a positronic-inference ...`)")
    path = ctypes.util.find_library("X11")
    if path is None:
        return  # Let GLFW try; it links libX11 itself, so this is unusual.
    x11 = ctypes.CDLL(path)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(name.encode())
    if not handle:
        raise DisplayUnavailable(f"cannot open X display {name!r} (is the X server running and reachable?)")
    x11.XCloseDisplay(handle)


class DpgApp:
    """A DearPyGui context plus its viewport. Build items after construction, then call `show()` once."""

    _opened: ClassVar[bool] = False

    def __init__(self, title: str, width: int, height: int) -> None:
        if DpgApp._opened:
            raise RuntimeError("this process has already opened a DearPyGui window; DearPyGui 2.3.1 cannot open a "
                               "second one reliably (it crashed), so start a new process for the next window")
        check_display()
        dpg.create_context()  # First: every other dpg call segfaults without a context.
        DpgApp._opened = True
        self._gl = GlxParking()
        self._closed = False
        self._shown = False
        try:
            dpg.configure_app(manual_callback_management=True)
            # The driver's loop paces itself; vsync would hold every frame until the screen's refresh, and the
            # simulator with it.
            dpg.create_viewport(title=title, width=int(width), height=int(height), vsync=False)
            with self._gl.drawing():
                dpg.setup_dearpygui()
        except BaseException:
            self.close()
            raise

    @property
    def is_open(self) -> bool:
        return not self._closed and (not self._shown or dpg.is_dearpygui_running())

    def show(self) -> None:
        with self._gl.drawing():
            dpg.show_viewport()
        self._shown = True

    def frame(self) -> bool:
        """Draw one frame, then run the callbacks it queued. False once the window is closed."""
        if not self.is_open:
            return False
        if not self._shown:
            self.show()
        with self._gl.drawing():
            dpg.render_dearpygui_frame()
        dpg.run_callbacks(dpg.get_callback_queue())
        return self.is_open

    def request_close(self) -> None:
        """Close the window as its close button would: the next `frame()` returns False."""
        if not self._closed:
            dpg.stop_dearpygui()

    def screenshot(self, settle_frames: int = 3, max_frames: int = 10) -> np.ndarray:
        """The window as it stands: uint8 (height, width, 3).

        DearPyGui reads the frame buffer a frame or two late (double buffering; a new texture also takes a frame to
        appear), so this first draws `settle_frames` unchanged frames: whichever of them is read, it is current.
        """
        if not self.is_open:
            raise RuntimeError("the window is closed")
        for _ in range(settle_frames):
            self.frame()
        captured: list[Any] = []
        dpg.output_frame_buffer(callback=lambda sender, buffer: captured.append(buffer))
        for _ in range(max_frames):
            self.frame()
            if captured:
                buffer = captured[0]
                rgba = np.asarray(buffer, dtype=np.float32).reshape(buffer.get_height(), buffer.get_width(), 4)
                return np.round(np.clip(rgba[..., :3], 0.0, 1.0) * 255.0).astype(np.uint8)
        raise RuntimeError(f"no frame buffer after {max_frames} frames")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # DearPyGui frees its GL objects on the way out, so its context has to be current for that.
            with self._gl.drawing():
                dpg.destroy_context()
        finally:
            self._gl.forget()
