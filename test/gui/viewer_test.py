"""The camera viewer on a virtual screen: it shows what the simulator's cameras see, follows a running episode,
throttles its rendering, reports its window closing, and explains a missing display instead of crashing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("dearpygui", reason="DearPyGui is not installed (pip install positronic_core[gui])")


def test_viewer_shows_the_cameras_and_follows_an_episode(gui_run):
    seen = gui_run("viewer")
    assert seen["renders_while_idle"] == 1, "an idle scene is rendered once, not at every update"
    assert set(seen["idle_difference"]) == {"image.wrist", "image.exterior", "image.agent_view"}
    assert "no episode running" in seen["idle_info"] and "grip" in seen["idle_info"]
    assert seen["moved_vs_idle"] > 3 * seen["episode_difference"], "the check would not tell the two frames apart"
    assert "episode    0 (seed 0)" in seen["episode_info"] and "sim time   0.80 s" in seen["episode_info"]
    assert seen["update_after_close"] is False
    assert "already opened a DearPyGui window" in seen["second_window"]


def test_timed_driver_records_while_the_viewer_shows(gui_run, tmp_path):
    seen = gui_run("timed_viewer", str(tmp_path))
    [[index, saved, path]] = seen["completed"]
    assert index == 0 and saved
    assert json.loads((Path(path) / "static.json").read_text())["simulation.total_iterations"] == 1


def test_a_missing_display_is_explained(display, monkeypatch):
    # Checked before DearPyGui is touched, so this runs in the test process itself.
    from positronic_core.runtime.gui.app import DisplayUnavailable
    from positronic_core.runtime.gui.viewer import CameraViewer

    monkeypatch.setenv("DISPLAY", ":9999")
    with pytest.raises(DisplayUnavailable, match="cannot open X display ':9999'"):
        CameraViewer(["image.wrist"])
    monkeypatch.delenv("DISPLAY")
    with pytest.raises(DisplayUnavailable, match="DISPLAY is not set"):
        CameraViewer(["image.wrist"])


def test_describe_the_robot_state():
    from positronic_core.runtime.gui.viewer import describe

    state = {"robot_state.q": [0.0, -0.31, 0.0, -1.65, 0.0, 1.52, 0.78], "grip": 0.25,
             "robot_state.ee_pose": [0.4, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0]}
    text = describe(state, None)
    assert "no episode running" in text and "grip       0.25" in text
    assert "ee xyz     [+0.400 +0.000 +0.500]" in text and "-1.65" in text
