"""The evaluation console on a virtual screen, on the real simulator with the scripted policy and a recording:
Start -> Fail -> items and notes -> Submit, a time-capped episode, Success -> Cancel, and Quit; then the keyboard
shortcuts from real key presses."""

from __future__ import annotations

import ctypes.util

import pytest

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset
from positronic_core.runtime.drivers.eval_ui import EVAL_TASKS
from positronic_core.runtime.eval_session import FAIL, RAN_OUT_OF_TIME, SUCCESS

pytest.importorskip("dearpygui", reason="DearPyGui is not installed (pip install positronic_core[gui])")


def test_console_records_verdicts_and_cancel_leaves_nothing(gui_run, tmp_path):
    seen = gui_run("eval_console", str(tmp_path))

    # The session's clock is injected and moved one tick (1/15 s) per step: one episode tick per console step.
    assert seen["steps_to_0.4s"] == 6 and seen["steps_to_cap"] == 15

    assert seen["grid_scene"][0] == 0 and seen["grid_scene"][1] > 0, "the feed shows the running episode"
    assert set(seen["running_difference"]) == {"image.wrist", "image.exterior"}
    assert seen["preselected"] == [FAIL, 0]
    assert "successful items must be between 0 and the total (3)" in seen["refused_submit"]
    assert "episode 0 saved as Fail" in seen["submitted"]
    assert "choose a task" in seen["empty_task"]
    outcome, duration, message = seen["capped"]
    assert outcome == RAN_OUT_OF_TIME and abs(duration - 1.0) < 1e-6 and "Ran out of time" in message
    assert seen["success_preselected"] == [SUCCESS, 3, 3]
    assert "episode 2 discarded" in seen["cancelled"]
    assert seen["step_after_quit"] is False
    # The operator's verdicts, graded as reports count them (Fail with 1 of 3 items done is partial).
    assert seen["completed"] == [[0, True, "partial"], [1, True, "failure"], [2, False, None]]

    assert len(layout.episode_dirs(tmp_path)) == 2, "the cancelled episode left a directory behind"
    first, second = Dataset(tmp_path)
    assert first.static["task"] == EVAL_TASKS[0]
    assert first.static["eval.outcome"] == FAIL
    assert first.static["eval.total_items"] == 3 and first.static["eval.successful_items"] == 1
    assert first.static["eval.notes"] == "grasped, then dropped the cube"
    assert first.static["eval.duration"] == pytest.approx(0.4, abs=1e-9) and first.static["eval.time_cap"] == 1.0
    assert second.static["task"] == "Stack the cubes, then wave."
    assert second.static["eval.outcome"] == RAN_OUT_OF_TIME
    assert second.static["eval.total_items"] == 3 and second.static["eval.successful_items"] == 0
    assert second.static["eval.notes"] == "" and abs(second.static["eval.duration"] - 1.0) < 1e-6
    assert "image.wrist" in first.video_names and first.duration_ns > 0


@pytest.mark.skipif(ctypes.util.find_library("Xtst") is None, reason="libXtst is not installed (Debian: libxtst6)")
def test_shortcuts_from_real_key_presses(gui_run, tmp_path):
    seen = gui_run("eval_console_keys", str(tmp_path))
    assert seen["s_waiting"] == "running"
    # Escape and Enter belong to review, S to waiting: while running they do nothing, not even complain.
    assert seen["escape_running"] == seen["return_running"] == seen["s_running"] == "running"
    assert seen["message_running"].startswith("episode 0 running"), seen["message_running"]
    assert seen["return_reviewing"] == "waiting", "Enter submits"
    assert seen["s_again"] == "running"
    assert seen["escape_reviewing"] == "waiting", "Escape cancels"
    assert seen["s_typing"] == "waiting" and seen["typed"] == "s", "a key typed into a field is the field's"
    assert seen["completed"] == [[0, True, "failure"], [1, False, None]]
    assert len(layout.episode_dirs(tmp_path)) == 1


def test_driver_loop_quits_and_discards_the_unsubmitted_episode(gui_run, tmp_path):
    seen = gui_run("eval_driver_quit", str(tmp_path))
    assert seen["states"] == ["running", "waiting"]
    assert seen["completed"] == [[0, False, None]]
    assert "episode 0 discarded: the console closed before its verdict was submitted" in seen["printed"]
    assert layout.episode_dirs(tmp_path) == []
