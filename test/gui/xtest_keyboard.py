"""Real key presses on the X display, through the XTest extension: what a person's keyboard sends, so a test sees
whether the window actually receives a key, not only what its handler does when called."""

from __future__ import annotations

import ctypes
import ctypes.util


class XTestKeyboard:
    """Types on `$DISPLAY`: the focused window gets the keys (without a window manager, the last one shown)."""

    def __init__(self) -> None:
        x11_path, xtst_path = ctypes.util.find_library("X11"), ctypes.util.find_library("Xtst")
        if x11_path is None or xtst_path is None:
            raise RuntimeError("libX11 and libXtst are needed to send key presses (Debian: libxtst6)")
        self._x11 = ctypes.CDLL(x11_path)
        self._xtst = ctypes.CDLL(xtst_path)
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XStringToKeysym.restype = ctypes.c_ulong
        self._x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
        self._x11.XKeysymToKeycode.restype = ctypes.c_ubyte
        self._x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self._x11.XFlush.argtypes = [ctypes.c_void_p]
        self._x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self._display = self._x11.XOpenDisplay(None)
        if not self._display:
            raise RuntimeError("cannot open the X display for key presses")

    def tap(self, key: str) -> None:
        """Press and release one key, named as X names it: "s", "Return", "Escape"."""
        keycode = self._x11.XKeysymToKeycode(self._display, self._x11.XStringToKeysym(key.encode()))
        if keycode == 0:
            raise ValueError(f"no key {key!r} on this keyboard map")
        self._xtst.XTestFakeKeyEvent(self._display, keycode, True, 0)
        self._xtst.XTestFakeKeyEvent(self._display, keycode, False, 0)
        self._x11.XFlush(self._display)

    def close(self) -> None:
        self._x11.XCloseDisplay(self._display)
