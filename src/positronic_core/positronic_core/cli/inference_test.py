"""`positronic-inference` in-process: its top-level help and the checks of `sim`'s own flags."""

from pathlib import Path

import pytest

from positronic_core.cli import inference
from positronic_core.cli.runner import run


@pytest.mark.parametrize(("flag", "says"), [
    ("--seed=-1", "--seed must be >= 0, got -1"),
    ("--seed=1.5", "--seed must be a whole number >= 0, got 1.5"),
    ("--seed=True", "--seed must be a whole number >= 0, got True"),
    ("--policy_fps=0", "--policy_fps must be positive, got 0"),
    ("--policy_fps=fast", "--policy_fps must be a positive number, got 'fast'"),
    ("--policy_fps=1e999", "--policy_fps must be a positive number, got inf"),
    ("--camera_width=0", "--camera_width must be >= 2, got 0"),
    ("--camera_height=-240", "--camera_height must be >= 2, got -240"),
    ("--camera_width=321", "--camera_width must be an even number of pixels"),
    ("--simulate_timeout=yes", "--simulate_timeout must be True or False, got 'yes'"),
    ("--render_quality=ultra", "--render_quality must be one of fast, default; got 'ultra'"),
])
def test_a_bad_sim_flag_stops_with_one_line_naming_it(flag: str, says: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec"
    with pytest.raises(SystemExit) as stopped:
        run(inference.COMMANDS["sim"], [flag, f"--output_dir={out}"], prog="positronic-inference sim")
    assert stopped.value.code == 2
    first, hint = capsys.readouterr().err.splitlines()
    assert first.startswith(f"positronic-inference sim: error: {says}")
    assert hint == "Run `positronic-inference sim --help` for the flags."
    assert not out.exists()
