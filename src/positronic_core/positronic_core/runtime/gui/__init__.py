"""DearPyGui windows for the episode drivers: the camera viewer (`viewer`) and the evaluation console (`eval_console`).

Invariants every window here keeps (see `app` and `gl_handoff` for the reasons):
- DearPyGui has one global context per process and segfaults on any call made before `create_context()`: a window
  creates the context before touching anything else, and a process opens one window in its life (DearPyGui 2.3.1
  crashed opening a second one; see `app`).
- The window never runs a loop or a thread of its own: the driver calls it once per iteration, and item callbacks run
  inside that call, on the driver's thread, between two simulator ticks.
- MuJoCo's offscreen EGL context and the window's GLX context share that thread; the window holds its GL context only
  while it draws a frame.

Importing this package does not import DearPyGui; its modules do, so drivers import them only when a window is asked
for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from positronic_core.runtime.gui.viewer import CameraViewer


def _needs_dearpygui(what: str, error: ImportError) -> SystemExit:
    return SystemExit(f"{what} needs DearPyGui ({error}); install the gui extra: "
                      "pip install -e 'src/positronic_core[gui]' from the repository (`make sim` does)")


def require_display(what: str) -> None:
    """Exit with the reason, in one line, unless DearPyGui imports and a display is reachable; `what` names who
    needs it."""
    try:
        from positronic_core.runtime.gui.app import DisplayUnavailable, check_display
    except ImportError as e:
        raise _needs_dearpygui(what, e) from None
    try:
        check_display()
    except DisplayUnavailable as e:
        raise SystemExit(f"{what} needs a display: {e}") from None


def open_viewer(cameras: Sequence[str]) -> CameraViewer:
    """The camera viewer for `--driver.show_gui=True`; exits with the reason when it cannot open."""
    try:
        from positronic_core.runtime.gui.app import DisplayUnavailable
        from positronic_core.runtime.gui.viewer import CameraViewer
    except ImportError as e:
        raise _needs_dearpygui("--driver.show_gui", e) from None
    try:
        return CameraViewer(cameras)
    except DisplayUnavailable as e:
        raise SystemExit(f"--driver.show_gui needs a display: {e}") from None
