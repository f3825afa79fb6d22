import subprocess
import sys

import pytest

pytest.importorskip("rosbags")

from synthetic_bags import BagSpec, write_episode_bag  # noqa: E402

from positronic_core.bags.cli import main  # noqa: E402
from positronic_core.dataset import Dataset  # noqa: E402

SMALL = dict(steps=3, commands=False, sim_observers=False)


def test_converts_and_prints_a_report_per_bag(tmp_path, capsys):
    for name in ("a", "b"):
        write_episode_bag(tmp_path / name, BagSpec(**SMALL))
    out = tmp_path / "out"
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), f"--output_dir={out}", "--reader=rosbags"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("frames per camera") == 2
    assert "converting" in captured.err and "3/3" not in captured.out
    assert Dataset(out).ids == [0, 1]


def test_refusal_names_the_bag_exits_non_zero_and_writes_nothing(tmp_path, capsys):
    write_episode_bag(tmp_path / "good", BagSpec(**SMALL))
    write_episode_bag(tmp_path / "blind", BagSpec(cameras={}, **SMALL))
    out = tmp_path / "out"
    assert main([str(tmp_path / "good"), str(tmp_path / "blind"), "--output_dir", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "blind") in err and "camera" in err and "nothing was written" in err
    assert not out.exists()  # a refused conversion leaves not even an empty dataset


def test_check_validates_without_writing(tmp_path, capsys):
    write_episode_bag(tmp_path / "bag", BagSpec(**SMALL))
    assert main([str(tmp_path / "bag"), "--check", "--quiet"]) == 0
    assert "/joint_states" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag"]


def test_output_dir_is_required_to_convert(tmp_path):
    with pytest.raises(SystemExit) as caught:
        main([str(tmp_path)])
    assert caught.value.code == 2


def test_help_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "positronic_core.bags.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "--output_dir" in done.stdout and "--check" in done.stdout and "--reader" in done.stdout
