"""A GUI driver without what it needs exits with one line saying what is missing and what to do, no traceback."""

from __future__ import annotations

import sys

import pytest

from positronic_core.runtime.gui import require_display


def _refusal(what: str) -> str:
    with pytest.raises(SystemExit) as exited:
        require_display(what)
    message = exited.value.code
    assert isinstance(message, str) and "\n" not in message, message
    assert exited.value.__suppress_context__, "the ImportError or display error would be printed as a traceback"
    return message


def test_without_dearpygui_it_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "positronic_core.runtime.gui.app", raising=False)
    for name in ("dearpygui", "dearpygui.dearpygui"):
        monkeypatch.setitem(sys.modules, name, None)  # what `import` sees when the package is not installed
    message = _refusal("the eval_ui driver")
    assert message.startswith("the eval_ui driver needs DearPyGui (import of dearpygui")
    assert "pip install -e 'src/positronic_core[gui]'" in message


def test_without_a_display_it_says_how_to_get_one(monkeypatch):
    pytest.importorskip("dearpygui")
    monkeypatch.delenv("DISPLAY", raising=False)
    message = _refusal("--driver.show_gui")
    assert message.startswith("--driver.show_gui needs a display: DISPLAY is not set")
    assert "xvfb-run -a" in message


def test_with_an_unreachable_display_it_names_it(monkeypatch):
    pytest.importorskip("dearpygui")
    monkeypatch.setenv("DISPLAY", ":4095")  # no X server listens there
    assert _refusal("the eval_ui driver") == ("the eval_ui driver needs a display: cannot open X display ':4095' "
                                                "(is the X server running and reachable?)")
