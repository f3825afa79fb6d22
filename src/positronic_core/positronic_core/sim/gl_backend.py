"""Pick MuJoCo's headless OpenGL backend before `mujoco` is first imported.

MuJoCo reads `MUJOCO_GL` once, at import, and PyOpenGL fixes its platform at the same moment, so the choice cannot be
retried later in the process: it has to be made here, and this module has to be imported before anything imports
`mujoco` (the `sim` package imports it first). A `MUJOCO_GL` already set by the user always wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import importlib.util
import os
import sys

#: The renderer raises this advice when no backend works.
INSTALL_HINT = (
    "MuJoCo needs a headless OpenGL backend to render cameras: install EGL (Debian: `apt-get install libegl1 "
    "libgl1-mesa-dri`) or OSMesa (Debian: `apt-get install libosmesa6`), or set MUJOCO_GL to a backend that works "
    "on this machine"
)

_EGL_PLATFORM_DEVICE_EXT = 0x313F


def _egl_works() -> bool:
    """Open an EGL device display the way MuJoCo's EGL context does, and close it again.

    Having libEGL is not enough: without a device (no GPU and no software rasteriser behind it) MuJoCo fails only
    when the first renderer is created, far from the cause.
    """
    name = ctypes.util.find_library("EGL")
    if name is None:
        return False
    try:
        egl = ctypes.CDLL(name)
        get_proc = egl.eglGetProcAddress
        get_proc.restype = ctypes.c_void_p
        get_proc.argtypes = [ctypes.c_char_p]
        query_ptr = get_proc(b"eglQueryDevicesEXT")
        display_ptr = get_proc(b"eglGetPlatformDisplayEXT")
        if not query_ptr or not display_ptr:
            return False
        query_devices = ctypes.CFUNCTYPE(
            ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int)
        )(query_ptr)
        platform_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)(
            display_ptr
        )
        devices = (ctypes.c_void_p * 8)()
        count = ctypes.c_int(0)
        if not query_devices(8, devices, ctypes.byref(count)) or count.value == 0:
            return False
        egl.eglInitialize.restype = ctypes.c_uint
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglTerminate.argtypes = [ctypes.c_void_p]
        for device in devices[: count.value]:
            display = platform_display(_EGL_PLATFORM_DEVICE_EXT, device, None)
            if display and egl.eglInitialize(display, None, None):
                egl.eglTerminate(display)
                return True
        return False
    except (OSError, AttributeError):
        return False


def _osmesa_present() -> bool:
    # OSMesa is a pure software rasteriser: if the library loads, it renders.
    return ctypes.util.find_library("OSMesa") is not None


def choose() -> str | None:
    """Set `MUJOCO_GL` (egl, else osmesa) unless it is set already; return the backend in force, or None."""
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if "mujoco" in sys.modules:
        # Too late to choose: MuJoCo has already bound itself to its default (GLFW, which needs a display).
        return None
    for backend, works in (("egl", _egl_works), ("osmesa", _osmesa_present)):
        if works():
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None


def _load_triton_first() -> None:
    """Import triton (PyTorch's kernel compiler) before any software GL context exists, if it is installed.

    Mesa's software rasterisers (llvmpipe behind EGL, and OSMesa) load the system LLVM; triton carries its own LLVM
    build. Loading triton after Mesa has loaded LLVM crashes the process (seen as a segfault importing
    `triton.knobs` once a camera has rendered, e.g. when a local ACT policy runs beside the simulator); loading it
    first is safe. Costs about 0.5 s, and only where torch (and so triton) is installed.
    """
    if importlib.util.find_spec("triton") is None:
        return
    try:
        importlib.import_module("triton.knobs")
    except Exception:  # a broken triton install must not stop a simulation that never uses it
        pass


_load_triton_first()
BACKEND: str | None = choose()
