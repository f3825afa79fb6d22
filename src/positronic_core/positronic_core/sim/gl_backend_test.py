import os
import subprocess
import sys

from positronic_core.sim import gl_backend


def test_a_backend_set_by_the_user_wins(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert gl_backend.choose() == "osmesa"


def test_no_choice_once_mujoco_is_imported(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setitem(sys.modules, "mujoco", sys.modules.get("mujoco", object()))
    assert gl_backend.choose() is None


def test_egl_then_osmesa_then_nothing(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delitem(sys.modules, "mujoco", raising=False)
    monkeypatch.setattr(gl_backend, "_egl_works", lambda: False)
    monkeypatch.setattr(gl_backend, "_osmesa_present", lambda: True)
    assert gl_backend.choose() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setattr(gl_backend, "_osmesa_present", lambda: False)
    assert gl_backend.choose() is None


def test_a_fresh_process_without_mujoco_gl_picks_a_backend_and_renders():
    script = (
        "from positronic_core.sim import StackCubesSim, gl_backend\n"
        "sim = StackCubesSim(camera_size=(64, 48), cameras=('image.agent_view',))\n"
        "image = sim.render()['image.agent_view']\n"
        "sim.close()\n"
        "print(gl_backend.BACKEND, image.shape, image.std() > 5)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] in ("egl", "osmesa")
    assert out.stdout.strip().endswith("(48, 64, 3) True")


def test_torch_kernels_can_load_after_a_camera_has_rendered():
    """Mesa's LLVM and triton's LLVM clash unless triton loads first; the sim package sees to that."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed (it comes with torch, which `make sim` does not need)")
    script = (
        "from positronic_core.sim import StackCubesSim\n"
        "sim = StackCubesSim(camera_size=(160, 120))\n"
        "sim.render()\n"
        "import triton.knobs\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
