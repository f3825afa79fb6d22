"""Imports between the robot side, the server and the models they share point one way.

policy/ (robot side) and serve/ (server) both build on models/ and wire/; neither imports the other, and models/
imports neither of them nor the control loop. Read from the source, so a lazy import inside a function counts too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "policy": ("serve",),
    "serve": ("policy", "runtime"),
    "models": ("serve", "policy", "runtime"),
}


def _imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "positronic_core" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_does_not_import_the_rooms_above_it(room):
    offenders = [f"{path.relative_to(PACKAGE)} imports positronic_core.{other}"
                 for path in sorted((PACKAGE / room).rglob("*.py"))
                 for other in sorted(_imported_rooms(path) & set(FORBIDDEN[room]))]
    assert not offenders


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from positronic_core import serve\n    import positronic_core.runtime.robot\n")
    assert _imported_rooms(module) == {"serve", "runtime"}
