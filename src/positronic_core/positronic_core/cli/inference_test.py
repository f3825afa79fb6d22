"""`positronic-inference` in-process: its top-level help and the checks of `sim`'s own flags."""

import ctypes
from pathlib import Path

import pytest

from positronic_core.cli import inference
from positronic_core.cli.runner import run
from positronic_core.policy.scripted import ScriptedStackingPolicy


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


def test_top_level_help_lists_each_command_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["positronic-inference", "--help"])
    inference.main()
    out = capsys.readouterr().out
    commands = [line.split()[0] for line in out.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    assert commands == ["sim", "real"]
    assert "positronic-inference sim --help" in out


@pytest.mark.parametrize("argv", [[], ["simulate"]])
def test_a_missing_or_unknown_command_is_one_line_and_exit_2(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["positronic-inference", *argv])
    with pytest.raises(SystemExit) as stopped:
        inference.main()
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "the commands are sim, real" in line


SIM_VARIANTS = [[], ["--policy=.remote"], ["--policy=.act_joints", "--driver=.eval_ui"], ["--driver=.keyboard"]]


@pytest.mark.parametrize(("command", "flags"), [("sim", v) for v in SIM_VARIANTS] + [("real", [])])
def test_help_explains_every_flag_it_lists(command: str, flags: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run(inference.COMMANDS[command], [*flags, "--help"], prog=f"positronic-inference {command}")
    text = capsys.readouterr().out
    explained, values = text.split("\nValues a run would use", 1)
    listed = [line.strip().split("=", 1)[0] for line in values.splitlines()[1:]]
    assert "--policy" in listed and "--output_dir" in listed
    # `real` points to `sim --help` for the policy and driver fields rather than repeating them.
    explained += inference.sim.__doc__ if command == "real" else ""
    assert [flag for flag in listed if flag not in explained] == []
    assert "Current values" not in text


def test_help_shows_the_values_the_flags_given_with_it_select(capsys: pytest.CaptureFixture[str]) -> None:
    run(inference.COMMANDS["sim"], ["--policy.host=gpu-box", "--policy=.remote", "--seed=7", "--help"],
        prog="positronic-inference sim")
    values = capsys.readouterr().out.split("\nValues a run would use", 1)[1].splitlines()
    for line in ("--policy=.remote", "--policy.host=gpu-box", "--policy.port=8000", "--seed=7",
                 "--driver.task='Pick up the green cube and place it on the red cube.'"):
        assert f"  {line}" in values


def test_help_with_a_bad_flag_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        run(inference.COMMANDS["sim"], ["--policy.hots=x", "--help"], prog="positronic-inference sim")
    assert stopped.value.code == 2
    assert "unknown flag --policy.hots (known here: none)" in capsys.readouterr().err


class _InterruptedInEgl:
    """A driver whose run is cut by Ctrl-C inside a ctypes call, as MuJoCo's EGL rendering surfaces it."""

    def run(self, runtime) -> None:
        raise ctypes.ArgumentError("argument 1: <class 'KeyboardInterrupt'>: ")


class _BrokenCtypesCall:
    def run(self, runtime) -> None:
        raise ctypes.ArgumentError("argument 1: <class 'TypeError'>: wrong type")


def test_ctrl_c_inside_a_ctypes_call_is_an_interrupt_and_any_other_argument_error_is_not(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        inference.sim(policy=ScriptedStackingPolicy(), driver=_InterruptedInEgl(), camera_width=64, camera_height=48)
    assert stopped.value.code == 130
    assert "interrupted" in capsys.readouterr().err
    with pytest.raises(ctypes.ArgumentError, match="wrong type"):
        inference.sim(policy=ScriptedStackingPolicy(), driver=_BrokenCtypesCall(), camera_width=64, camera_height=48)
