"""`positronic-inference sim --driver=.keyboard --driver.show_gui=True` on a pseudo-terminal and a virtual screen: the
viewer opens beside the keyboard loop and the episode is recorded as without it."""

from __future__ import annotations

import os
import time

import pytest

from positronic_core.dataset.reader import Dataset
from positronic_core.runtime.drivers.keyboard_test import INFERENCE, SMALL_RUN, Terminal

pytest.importorskip("dearpygui", reason="DearPyGui is not installed (pip install positronic_core[gui])")


@pytest.mark.skipif(not INFERENCE.exists(), reason=f"{INFERENCE} is not installed (pip install -e)")
def test_keyboard_driver_with_the_viewer(display, tmp_path):
    assert os.environ["DISPLAY"] == display
    terminal = Terminal([str(INFERENCE), *SMALL_RUN, "--driver.show_gui=True", f"--output_dir={tmp_path}"])
    try:
        terminal.expect(r"keys: s = start episode", 120)
        terminal.press("s")
        terminal.expect(r"episode 0 started")
        time.sleep(2.0)  # the first second goes to creating the renderers; then it records
        terminal.press("p")
        terminal.expect(r"episode 0 seed=0: [^\n]* -> ")
        terminal.press("q")
        assert terminal.wait() == 0, terminal.output[-4000:]
    finally:
        terminal.close()
    assert "Segmentation fault" not in terminal.output and "Traceback" not in terminal.output
    [episode] = Dataset(tmp_path)
    assert "robot_state.q" in episode.signal_names and "image.wrist" in episode.video_names
