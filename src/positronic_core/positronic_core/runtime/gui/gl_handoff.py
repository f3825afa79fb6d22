"""Sharing one thread between MuJoCo's offscreen EGL context and DearPyGui's on-screen GLX context.

libglvnd refuses to make a GLX context current on a thread that has an EGL context current, and the reverse
(`BadAccess` on X_GLXMakeCurrent, `EGL_BAD_ACCESS` from eglMakeCurrent; both seen with Mesa under Xvfb). MuJoCo makes
its EGL context current at every render and leaves it current; DearPyGui 2.3.1 makes its GLX context current when the
viewport is shown and expects it to still be current at every later frame. `GlxParking.drawing()` therefore brackets
each DearPyGui call that draws: it releases EGL, rebinds the saved GLX context, and afterwards saves and releases it
again, so the simulator never finds a GLX context current when it renders.

When the libraries are missing (no EGL, no GLX) the corresponding step does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


def _load(*names: str) -> ctypes.CDLL | None:
    for name in names:
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@cache
def _egl() -> ctypes.CDLL | None:
    lib = _load("EGL")
    if lib is None:
        return None
    lib.eglGetCurrentContext.restype = ctypes.c_void_p
    lib.eglGetCurrentDisplay.restype = ctypes.c_void_p
    lib.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    lib.eglMakeCurrent.restype = ctypes.c_uint
    return lib


@cache
def _glx() -> ctypes.CDLL | None:
    # libGLX is glvnd's GLX dispatcher; a system without glvnd has the same functions in libGL.
    lib = _load("GLX", "GL")
    if lib is None:
        return None
    lib.glXGetCurrentContext.restype = ctypes.c_void_p
    lib.glXGetCurrentDisplay.restype = ctypes.c_void_p
    lib.glXGetCurrentDrawable.restype = ctypes.c_ulong
    lib.glXGetCurrentReadDrawable.restype = ctypes.c_ulong
    lib.glXMakeContextCurrent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    lib.glXMakeContextCurrent.restype = ctypes.c_int
    return lib


def release_egl() -> None:
    """Unbind whatever EGL context is current on this thread (MuJoCo's renderer rebinds its own when it renders)."""
    egl = _egl()
    if egl is not None and egl.eglGetCurrentContext():
        egl.eglMakeCurrent(egl.eglGetCurrentDisplay(), None, None, None)


class GlxParking:
    """Keeps a GLX binding (display, drawables, context) unbound between uses and rebinds it on demand."""

    def __init__(self) -> None:
        self._saved: tuple[int, int, int, int] | None = None

    @contextmanager
    def drawing(self) -> Iterator[None]:
        release_egl()
        glx = _glx()
        if glx is not None and self._saved is not None:
            if not glx.glXMakeContextCurrent(*self._saved):
                raise RuntimeError("could not make the GUI's GLX context current again")
        try:
            yield
        finally:
            self.park()

    def park(self) -> None:
        """Remember the GLX binding current on this thread (if any) and unbind it."""
        glx = _glx()
        if glx is None:
            return
        context = glx.glXGetCurrentContext()
        if not context:
            return
        display = glx.glXGetCurrentDisplay()
        self._saved = (display, glx.glXGetCurrentDrawable(), glx.glXGetCurrentReadDrawable(), context)
        glx.glXMakeContextCurrent(display, 0, 0, None)

    def forget(self) -> None:
        """Drop the saved binding (its context is being destroyed) and unbind anything still current."""
        self._saved = None
        self.park()
        self._saved = None
