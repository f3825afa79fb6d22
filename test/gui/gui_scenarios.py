"""Scenarios that open a DearPyGui window, one per process: `python gui_scenarios.py NAME [ARG ...]`.

Each drives its window without a mouse (values set and callbacks called through dpg), asserts what it can see from
inside the process, and prints one JSON line of observations last, for the calling test to check. The tests in this
directory run them on a virtual screen; see conftest.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg
from screen_checks import assert_shows
from xtest_keyboard import XTestKeyboard

from positronic_core.policy.scripted import ScriptedStackingPolicy
from positronic_core.runtime.drivers.eval_ui import EVAL_TASKS, EvalUIDriver
from positronic_core.runtime.drivers.timed import TimedDriver
from positronic_core.runtime.eval_session import FAIL, RAN_OUT_OF_TIME, SUCCESS, EvalSession, EvalState
from positronic_core.runtime.gui import eval_console
from positronic_core.runtime.gui.app import DpgApp
from positronic_core.runtime.gui.camera_grid import MAX_INTERVAL
from positronic_core.runtime.gui.eval_console import (
    CANCEL,
    MESSAGE,
    NOTES,
    OTHER,
    OUTCOME,
    QUIT,
    START,
    SUBMIT,
    SUCCESSFUL_ITEMS,
    TASK,
    TASK_OTHER,
    TOTAL_ITEMS,
    EvalConsole,
    stop_tag,
)
from positronic_core.runtime.gui.viewer import CameraViewer
from positronic_core.runtime.sim_runtime import SimRuntime
from positronic_core.sim.stack_cubes import StackCubesSim
from positronic_core.stacking_task import TASK as STACKING_TASK

SIZE = (160, 120)
TICK = 1.0 / 15.0  # SimRuntime's default policy_fps


def press(tag: str) -> None:
    """What a click does: call the item's callback with (sender, app_data, user_data)."""
    dpg.get_item_callback(tag)(tag, None, dpg.get_item_user_data(tag))


def enabled(tag: str) -> bool:
    return bool(dpg.get_item_configuration(tag)["enabled"])


def step_until(console: EvalConsole, clock: ManualClock, done: Callable[[], bool], limit: int = 1000) -> int:
    """Step the console, moving the clock one control tick per step, until `done()`; returns the steps taken.

    On the session's realtime pacing that is exactly one episode tick per step, however fast or slow this machine is.
    """
    steps = 0
    while not done():
        assert console.step(), "the console closed unexpectedly"
        clock.t += TICK
        steps += 1
        assert steps < limit, f"condition not reached in {limit} steps"
    return steps


class ManualClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def viewer() -> dict[str, Any]:
    cameras = ("image.wrist", "image.exterior", "image.agent_view")
    robot = StackCubesSim(camera_size=SIZE, cameras=cameras)
    renders = []
    real_render = robot.render

    def counting_render(names=None):
        renders.append(tuple(names))
        return real_render(names)

    robot.render = counting_render
    clock = ManualClock()
    window = CameraViewer(cameras, box=SIZE, clock=clock)
    observed: dict[str, Any] = {}
    try:
        assert window.update(robot, None)
        for _ in range(20):  # the same instant: no frame is due, nothing is rendered
            assert window.update(robot, None)
        clock.t += 2.0
        assert window.update(robot, None)  # a frame is due, but the idle scene has not moved: no new render
        observed["renders_while_idle"] = len(renders)
        idle = real_render(cameras)
        shot = window.screenshot()
        observed["idle_difference"] = {name: assert_shows(shot, window.image_rect(name), idle[name])
                                       for name in cameras}
        observed["idle_info"] = window.info

        runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=None, cameras=cameras, out=io.StringIO())
        episode = runtime.start(STACKING_TASK)
        for _ in range(12):
            episode.tick()
        clock.t += 2.0  # past the camera throttle, however slow the first render was
        assert window.update(robot, episode)
        moved = real_render(cameras)
        shot = window.screenshot()
        observed["episode_difference"] = assert_shows(shot, window.image_rect("image.wrist"), moved["image.wrist"])
        observed["moved_vs_idle"] = float(abs(moved["image.wrist"].astype(float) - idle["image.wrist"]).mean())
        observed["episode_info"] = window.info
        episode.stop(save=False)

        window.app.request_close()
        observed["update_after_close"] = window.update(robot, None)
    finally:
        window.close()
        robot.close()
    try:
        DpgApp("second", 200, 200)
    except RuntimeError as e:
        observed["second_window"] = str(e)
    return observed


def timed_viewer(output_dir: str) -> dict[str, Any]:
    cameras = ("image.wrist", "image.exterior")
    robot = StackCubesSim(camera_size=SIZE, cameras=cameras)
    try:
        runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=Path(output_dir), cameras=cameras,
                             out=io.StringIO())
        TimedDriver(simulation_time=0.5, show_gui=True).run(runtime)
    finally:
        robot.close()
    return {"completed": [[s.index, s.saved, str(s.path)] for s in runtime.completed]}


def eval_console_flow(output_dir: str) -> dict[str, Any]:
    cameras = ("image.wrist", "image.exterior")
    robot = StackCubesSim(camera_size=SIZE, cameras=cameras)
    runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=Path(output_dir), cameras=cameras,
                         out=io.StringIO())
    clock = ManualClock()
    session = EvalSession(runtime, time_cap=1.0, clock=clock)
    console = EvalConsole(session, tasks=EVAL_TASKS, box=SIZE)
    observed: dict[str, Any] = {}
    try:
        assert console.step()
        assert enabled(START) and not enabled(SUBMIT) and not enabled(stop_tag(FAIL))
        # Past the camera grid's longest wait, so the first step of the episode shows it (the first render, which
        # sets up GL, may have pushed the next one a whole second out).
        clock.t += MAX_INTERVAL

        # 1. Start, run to 0.4 s, stop with Fail, a refused Submit (5 of 3), then a valid one with notes.
        dpg.set_value(TASK, EVAL_TASKS[0])
        press(START)
        assert session.state is EvalState.RUNNING and enabled(stop_tag(FAIL)) and not enabled(START)
        observed["steps_to_0.4s"] = step_until(console, clock, lambda: session.episode.now >= 0.4 - 1e-9)
        shot = console.screenshot()
        observed["grid_scene"] = list(console.grid.scene)
        observed["running_difference"] = {name: assert_shows(shot, console.grid.image_rect(name),
                                                             console.grid.frames[name]) for name in cameras}
        press(stop_tag(FAIL))
        assert session.state is EvalState.REVIEWING and enabled(SUBMIT) and not enabled(stop_tag(FAIL))
        observed["preselected"] = [dpg.get_value(OUTCOME), dpg.get_value(SUCCESSFUL_ITEMS)]
        dpg.set_value(TOTAL_ITEMS, 3)
        dpg.set_value(SUCCESSFUL_ITEMS, 5)
        press(SUBMIT)
        assert session.state is EvalState.REVIEWING
        observed["refused_submit"] = dpg.get_value(MESSAGE)
        dpg.set_value(SUCCESSFUL_ITEMS, 1)
        dpg.set_value(NOTES, "grasped, then dropped the cube")
        press(SUBMIT)
        assert session.state is EvalState.WAITING and dpg.get_value(NOTES) == ""
        observed["submitted"] = dpg.get_value(MESSAGE)

        # 2. A free-text task (refused while empty), run into the time cap, submitted as is.
        dpg.set_value(TASK, OTHER)
        press(START)
        observed["empty_task"] = dpg.get_value(MESSAGE)
        assert session.state is EvalState.WAITING
        dpg.set_value(TASK_OTHER, "Stack the cubes, then wave.")
        press(START)
        observed["steps_to_cap"] = step_until(console, clock, lambda: session.state is EvalState.REVIEWING)
        observed["capped"] = [dpg.get_value(OUTCOME), session.duration, dpg.get_value(MESSAGE)]
        assert dpg.get_value(OUTCOME) == RAN_OUT_OF_TIME
        press(SUBMIT)
        assert session.state is EvalState.WAITING

        # 3. Success, then Cancel: nothing is kept.
        dpg.set_value(TASK, EVAL_TASKS[1])
        press(START)
        step_until(console, clock, lambda: session.episode.now >= 0.2)
        press(stop_tag(SUCCESS))
        observed["success_preselected"] = [dpg.get_value(OUTCOME), dpg.get_value(SUCCESSFUL_ITEMS),
                                           dpg.get_value(TOTAL_ITEMS)]
        press(CANCEL)
        assert session.state is EvalState.WAITING
        observed["cancelled"] = dpg.get_value(MESSAGE)

        press(QUIT)
        observed["step_after_quit"] = console.step()
    finally:
        console.close()
        robot.close()
    observed["completed"] = [[s.index, s.saved, s.verdict] for s in runtime.completed]
    return observed


def eval_console_keys(output_dir: str) -> dict[str, Any]:
    """The console's shortcuts from real key presses (XTest): S, Enter and Escape, when their buttons are enabled and
    a field is not being typed into."""
    cameras = ("image.exterior",)
    robot = StackCubesSim(camera_size=SIZE, cameras=cameras)
    runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=Path(output_dir), cameras=cameras,
                         out=io.StringIO())
    clock = ManualClock()
    session = EvalSession(runtime, time_cap=30.0, clock=clock)
    console = EvalConsole(session, tasks=EVAL_TASKS, box=SIZE)
    keyboard = XTestKeyboard()
    seen: list[int] = []
    with dpg.handler_registry():
        dpg.add_key_press_handler(callback=lambda sender, key, user_data: seen.append(key))
    observed: dict[str, Any] = {}

    def tap(name: str, code: int) -> str:
        """Press a key, step until the window has seen it, and return the state it left the session in."""
        seen.clear()
        keyboard.tap(name)
        deadline = time.monotonic() + 20.0  # X delivers in microseconds; this only bounds a broken setup
        while code not in seen:
            assert console.step(), "the console closed unexpectedly"
            clock.t += TICK
            assert time.monotonic() < deadline, f"the window never received {name!r} (focus?)"
            time.sleep(0.002)
        return session.state.value

    try:
        assert console.step()
        observed["s_waiting"] = tap("s", dpg.mvKey_S)
        observed["escape_running"] = tap("Escape", dpg.mvKey_Escape)
        observed["return_running"] = tap("Return", dpg.mvKey_Return)
        observed["s_running"] = tap("s", dpg.mvKey_S)
        observed["message_running"] = dpg.get_value(MESSAGE)
        press(stop_tag(FAIL))
        observed["return_reviewing"] = tap("Return", dpg.mvKey_Return)
        observed["s_again"] = tap("s", dpg.mvKey_S)
        press(stop_tag(SUCCESS))
        observed["escape_reviewing"] = tap("Escape", dpg.mvKey_Escape)

        # Typing the Other task: the "s" goes into the field and starts nothing.
        dpg.set_value(TASK, OTHER)
        dpg.focus_item(TASK_OTHER)
        step_until(console, clock, lambda: dpg.is_item_active(TASK_OTHER), limit=50)
        observed["s_typing"] = tap("s", dpg.mvKey_S)
        observed["typed"] = dpg.get_value(TASK_OTHER)
    finally:
        keyboard.close()
        console.close()
        robot.close()
    observed["completed"] = [[s.index, s.saved, s.verdict] for s in runtime.completed]
    return observed


def eval_driver_quit(output_dir: str) -> dict[str, Any]:
    """The driver's own loop: Start on the third step, Quit mid-episode; the unsubmitted episode is discarded."""
    cameras = ("image.exterior",)
    robot = StackCubesSim(camera_size=SIZE, cameras=cameras)
    runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=Path(output_dir), cameras=cameras,
                         out=io.StringIO())
    original_step = eval_console.EvalConsole.step
    steps = []

    def scripted_step(console: EvalConsole) -> bool:
        steps.append(console.session.state.value)
        if len(steps) == 3:
            press(START)
        episode = console.session.episode
        if episode is not None and episode.now >= 0.3:
            press(QUIT)
        return original_step(console)

    eval_console.EvalConsole.step = scripted_step
    printed = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(printed):
            EvalUIDriver(time_cap=5.0).run(runtime)
    finally:
        robot.close()
    return {"steps": len(steps), "states": sorted(set(steps)), "wall": time.monotonic() - started,
            "printed": printed.getvalue(),
            "completed": [[s.index, s.saved, None if s.path is None else str(s.path)] for s in runtime.completed]}


SCENARIOS = {"viewer": viewer, "timed_viewer": timed_viewer, "eval_console": eval_console_flow,
             "eval_console_keys": eval_console_keys, "eval_driver_quit": eval_driver_quit}

if __name__ == "__main__":
    result = SCENARIOS[sys.argv[1]](*sys.argv[2:])
    print(json.dumps(result), flush=True)
