"""The "Evaluation Control" window: camera feeds on the left, the operator's controls on the right.

A thin layer over `EvalSession` (`positronic_core.runtime.eval_session`): each button calls one session method,
and after every state change the widgets are re-synced (what is enabled, the outcome preselected for review). Every
widget has a fixed tag (the constants below) so that a test can set values and call callbacks without a mouse. The
camera feeds are paced on the session's clock, so a test that injects one clock controls both.

Keyboard shortcuts, as upstream's console had them: S starts, Enter submits, Escape cancels. A shortcut acts only
when its button is enabled, and not while a field is being typed into (an "s" in the notes stays an "s").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import dearpygui.dearpygui as dpg
import numpy as np

from positronic_core.runtime.eval_session import (
    OUTCOMES,
    STOP_OUTCOMES,
    EvalError,
    EvalSession,
    EvalState,
    Verdict,
    suggested_successful_items,
)
from positronic_core.runtime.gui.app import DpgApp
from positronic_core.runtime.gui.camera_grid import CameraGrid

OTHER = "Other"
CONTROLS_WIDTH = 440

WINDOW = "eval.window"
STATUS = "eval.status"
TASK = "eval.task"
TASK_OTHER = "eval.task_other"
START = "eval.start"
OUTCOME = "eval.outcome"
TOTAL_ITEMS = "eval.total_items"
SUCCESSFUL_ITEMS = "eval.successful_items"
NOTES = "eval.notes"
SUBMIT = "eval.submit"
CANCEL = "eval.cancel"
MESSAGE = "eval.message"
QUIT = "eval.quit"

#: The fields that take typed keys; while one is being edited, the shortcuts are off.
_TYPING_FIELDS = (TASK_OTHER, TOTAL_ITEMS, SUCCESSFUL_ITEMS, NOTES)

_ERROR_COLOR = (255, 110, 110, 255)
_INFO_COLOR = (220, 220, 220, 255)
_DISABLED_TEXT = (110, 110, 110, 255)
_DISABLED_FILL = (40, 40, 44, 255)


def stop_tag(outcome: str) -> str:
    """Tag of the button that stops a running episode with `outcome`."""
    return f"eval.stop.{outcome}"


def _disabled_theme() -> int | str:
    # DearPyGui draws a disabled widget exactly like an enabled one unless a theme says otherwise.
    with dpg.theme() as theme:
        for kind in (dpg.mvButton, dpg.mvRadioButton, dpg.mvInputInt, dpg.mvInputText):
            with dpg.theme_component(kind, enabled_state=False):
                dpg.add_theme_color(dpg.mvThemeCol_Text, _DISABLED_TEXT)
                for target in (dpg.mvThemeCol_Button, dpg.mvThemeCol_ButtonHovered, dpg.mvThemeCol_ButtonActive,
                               dpg.mvThemeCol_FrameBg, dpg.mvThemeCol_FrameBgHovered, dpg.mvThemeCol_FrameBgActive):
                    dpg.add_theme_color(target, _DISABLED_FILL)
    return theme


class EvalConsole:
    """The console window for one `EvalSession`. `run()` loops until Quit or the window closes."""

    def __init__(self, session: EvalSession, *, tasks: Sequence[str], box: tuple[int, int] = (320, 240),
                 camera_fps: float = 10.0, gui_fps: float = 30.0) -> None:
        self.session = session
        self.tasks = list(tasks)
        self.frame_interval = 1.0 / gui_fps
        self.quit_requested = False
        self._until_tick = math.inf
        self._synced_version = -1
        cameras = list(session.runtime.cameras)
        grid_w, grid_h = CameraGrid.panel_size(len(cameras), box)
        self.app = DpgApp("Evaluation Control", grid_w + CONTROLS_WIDTH + 40, max(grid_h, 760) + 40)
        try:
            self._build(cameras, box, camera_fps)
            self.app.show()
            self._sync()
        except BaseException:
            self.app.close()
            raise

    # Layout -----------------------------------------------------------------------------------------------------

    def _build(self, cameras: list[str], box: tuple[int, int], camera_fps: float) -> None:
        dpg.bind_theme(_disabled_theme())
        with dpg.window(tag=WINDOW, no_title_bar=True, no_move=True, no_resize=True):
            with dpg.group(horizontal=True):
                cameras_panel = dpg.add_group()
                with dpg.child_window(width=CONTROLS_WIDTH, border=True):
                    dpg.add_text("", tag=STATUS, wrap=CONTROLS_WIDTH - 20)
                    dpg.add_separator()
                    dpg.add_text("Task")
                    dpg.add_radio_button([*self.tasks, OTHER], tag=TASK, default_value=self.tasks[0])
                    dpg.add_input_text(tag=TASK_OTHER, hint="Other: type the instruction", width=-1)
                    dpg.add_button(label="Start (S)", tag=START, width=-1, callback=self._on_start)
                    dpg.add_separator()
                    dpg.add_text("Stop with outcome")
                    for row in (STOP_OUTCOMES[:3], STOP_OUTCOMES[3:]):
                        with dpg.group(horizontal=True):
                            for outcome in row:
                                dpg.add_button(label=outcome, tag=stop_tag(outcome), width=130, user_data=outcome,
                                               callback=self._on_stop)
                    dpg.add_separator()
                    dpg.add_text("Review")
                    dpg.add_radio_button(list(OUTCOMES), tag=OUTCOME, default_value=OUTCOMES[0])
                    dpg.add_input_int(label="Total items", tag=TOTAL_ITEMS, default_value=1, min_value=1,
                                      min_clamped=True, max_value=10_000, width=140)
                    dpg.add_input_int(label="Successful items", tag=SUCCESSFUL_ITEMS, default_value=0, min_value=0,
                                      min_clamped=True, max_value=10_000, width=140)
                    dpg.add_text("Notes")
                    dpg.add_input_text(tag=NOTES, multiline=True, width=-1, height=64)
                    with dpg.group(horizontal=True):
                        dpg.add_button(label="Submit (Enter)", tag=SUBMIT, width=200, callback=self._on_submit)
                        dpg.add_button(label="Cancel (Esc)", tag=CANCEL, width=200, callback=self._on_cancel)
                    dpg.add_separator()
                    dpg.add_text("", tag=MESSAGE, wrap=CONTROLS_WIDTH - 20, color=_INFO_COLOR)
                    dpg.add_button(label="Quit", tag=QUIT, width=-1, callback=self._on_quit)
        dpg.set_primary_window(WINDOW, True)
        with dpg.handler_registry():
            for key, button in ((dpg.mvKey_S, START), (dpg.mvKey_Return, SUBMIT), (dpg.mvKey_NumPadEnter, SUBMIT),
                                (dpg.mvKey_Escape, CANCEL)):
                dpg.add_key_press_handler(key, callback=self._on_shortcut, user_data=button)
        self.grid = CameraGrid(cameras, cameras_panel, box=box, max_fps=camera_fps, clock=self.session.clock)

    # Loop -------------------------------------------------------------------------------------------------------

    def step(self) -> bool:
        """One iteration: a due episode tick, widget sync, cameras, one frame and its callbacks. False when done."""
        if self.quit_requested or not self.app.is_open:
            return False
        self._until_tick = self.session.advance()
        self._sync()
        episode = self.session.episode
        dpg.set_value(STATUS, self._status())
        self.grid.refresh(self.session.runtime.robot, None if episode is None else (episode.index, episode.now))
        if not self.app.frame():
            return False
        self._sync()
        return not self.quit_requested

    def run(self) -> None:
        while self.step():
            time.sleep(max(0.0, min(self.frame_interval, self._until_tick)))

    def screenshot(self) -> np.ndarray:
        """The window as drawn now: uint8 (height, width, 3)."""
        return self.app.screenshot()

    def close(self) -> None:
        self.app.close()

    # Callbacks --------------------------------------------------------------------------------------------------

    def _on_start(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        choice = dpg.get_value(TASK)
        task = dpg.get_value(TASK_OTHER) if choice == OTHER else choice
        if self._attempt(lambda: self.session.start(task)):
            episode = self.session.episode
            self._say(f"episode {episode.index} running (seed {episode.seed}): {episode.task}")

    def _on_stop(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        self._attempt(lambda: self.session.stop(user_data))

    def _on_submit(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        def submit() -> None:
            verdict = Verdict(outcome=dpg.get_value(OUTCOME), total_items=dpg.get_value(TOTAL_ITEMS),
                              successful_items=dpg.get_value(SUCCESSFUL_ITEMS), notes=dpg.get_value(NOTES))
            summary = self.session.submit(verdict)
            where = f" to {summary.path}" if summary.path else " (no --output_dir: nothing recorded)"
            self._say(f"episode {summary.index} saved as {verdict.outcome}{where}")

        self._attempt(submit)

    def _on_cancel(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        def cancel() -> None:
            summary = self.session.cancel()
            self._say(f"episode {summary.index} discarded")

        self._attempt(cancel)

    def _on_quit(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        self.quit_requested = True

    def _on_shortcut(self, sender: Any = None, app_data: Any = None, user_data: Any = None) -> None:
        button = user_data
        if not dpg.is_item_enabled(button) or any(dpg.is_item_active(field) for field in _TYPING_FIELDS):
            return
        dpg.get_item_callback(button)(button, None, dpg.get_item_user_data(button))

    def _attempt(self, action: Callable[[], Any]) -> bool:
        try:
            action()
        except EvalError as e:
            self._say(str(e), error=True)
            return False
        finally:
            self._sync()
        return True

    # Widgets ----------------------------------------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        dpg.set_value(MESSAGE, text)
        dpg.configure_item(MESSAGE, color=_ERROR_COLOR if error else _INFO_COLOR)

    def _status(self) -> str:
        session, episode = self.session, self.session.episode
        if session.state is EvalState.WAITING:
            return "WAITING: choose a task and press Start"
        if session.state is EvalState.RUNNING:
            return (f"RUNNING: episode {episode.index}, {episode.now:5.1f} s of {session.time_cap:.0f} s\n"
                    f"{episode.task}")
        return f"REVIEWING: episode {episode.index}, stopped at {session.duration:.1f} s ({session.outcome})"

    def _sync(self) -> None:
        session = self.session
        if session.version == self._synced_version:
            return
        self._synced_version = session.version
        state = session.state
        for tag in (TASK, TASK_OTHER, START):
            dpg.configure_item(tag, enabled=state is EvalState.WAITING)
        for outcome in STOP_OUTCOMES:
            dpg.configure_item(stop_tag(outcome), enabled=state is EvalState.RUNNING)
        for tag in (OUTCOME, TOTAL_ITEMS, SUCCESSFUL_ITEMS, NOTES, SUBMIT, CANCEL):
            dpg.configure_item(tag, enabled=state is EvalState.REVIEWING)
        if state is EvalState.REVIEWING:
            dpg.set_value(OUTCOME, session.outcome)
            dpg.set_value(SUCCESSFUL_ITEMS, suggested_successful_items(session.outcome, dpg.get_value(TOTAL_ITEMS)))
            self._say(f"episode {session.episode.index} stopped at {session.duration:.1f} s: {session.outcome}. "
                      "Check the outcome, items and notes, then Submit to save or Cancel to discard.")
        elif state is EvalState.WAITING:
            dpg.set_value(NOTES, "")
