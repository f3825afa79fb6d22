import mujoco
import pytest

from positronic_core.sim import gl_backend
from positronic_core.sim.rendering import CameraRenderer
from positronic_core.sim.scene import build_model


def test_a_renderer_that_cannot_start_says_what_to_install(monkeypatch):
    model = build_model(camera_size=(64, 48), render_quality="fast")

    def no_gl(*args, **kwargs):
        raise mujoco.FatalError("gladLoadGL error")

    monkeypatch.setattr(mujoco, "Renderer", no_gl)
    renderer = CameraRenderer(model, {"image.agent_view": "agent_view"}, (64, 48))
    with pytest.raises(RuntimeError, match="libosmesa6") as error:
        renderer.render(mujoco.MjData(model))
    assert gl_backend.INSTALL_HINT in str(error.value)
