"""The eval_ui driver's arguments and its refusal to start without a display (the session it drives is tested in
`runtime/eval_session_test.py`, the console under Xvfb in `test/gui`)."""

from __future__ import annotations

import pytest

from positronic_core.cfg import driver as driver_cfg
from positronic_core.runtime.drivers.eval_ui import EVAL_TASKS, EvalUIDriver


def test_driver_arguments():
    driver = driver_cfg.eval_ui.instantiate()
    assert isinstance(driver, EvalUIDriver)
    assert driver.time_cap == 60.0 and driver.tasks == EVAL_TASKS and driver.realtime
    assert EvalUIDriver(tasks=[" a ", "a", "", "b"]).tasks == ("a", "b")
    assert EvalUIDriver(tasks="only this").tasks == ("only this",)
    with pytest.raises(ValueError, match="time_cap"):
        EvalUIDriver(time_cap=0)
    with pytest.raises(ValueError, match="tasks"):
        EvalUIDriver(tasks=["", " "])


def test_driver_without_a_display_exits_with_a_reason(monkeypatch):
    pytest.importorskip("dearpygui")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SystemExit, match="needs a display: DISPLAY is not set"):
        EvalUIDriver().run(runtime=None)
