from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from positronic_core.dataset.writer import DatasetWriter
from positronic_core.evaluate.sweep import cli
from positronic_core.evaluate.sweep.conditions import (
    FLAGS,
    RECORD_FILE,
    ConditionsError,
    check_and_record,
    flags_of,
)
from positronic_core.evaluate.sweep.plan import EpisodeSettings


def _an_episode(root) -> None:
    writer = DatasetWriter(root).new_episode()
    writer.append("grip", 0.0, 1)
    writer.finish()


def test_every_simulation_flag_is_recorded():
    parser = argparse.ArgumentParser()
    sweep = cli.add_parser(parser.add_subparsers())
    [group] = [g for g in sweep._action_groups if g.title.startswith("simulation")]
    assert {action.option_strings[0] for action in group._group_actions} == set(FLAGS.values())
    assert {f.name for f in dataclasses.fields(EpisodeSettings)} == set(FLAGS)


def test_the_first_sweep_writes_the_record_whole_and_nothing_beside_it(tmp_path):
    out = tmp_path / "sweep"
    settings = EpisodeSettings(simulation_time=1.0, cameras=("image.wrist",))
    assert check_and_record(out, settings)
    assert [p.name for p in out.iterdir()] == [RECORD_FILE]
    flags = json.loads((out / RECORD_FILE).read_text())["flags"]
    assert flags == flags_of(settings)
    assert flags["--driver.simulation_time"] == 1.0 and flags["--cameras"] == "image.wrist"


def test_a_record_whose_dir_holds_no_episode_binds_nothing(tmp_path):
    # A sweep that stopped before recording anything (a bad --ray address, say) must not pin DIR's flags.
    assert check_and_record(tmp_path, EpisodeSettings(simulation_time=1.0))
    assert check_and_record(tmp_path, EpisodeSettings(simulation_time=2.0))
    assert json.loads((tmp_path / RECORD_FILE).read_text())["flags"]["--driver.simulation_time"] == 2.0


def test_other_flags_over_recorded_episodes_are_refused_naming_each(tmp_path):
    check_and_record(tmp_path, EpisodeSettings())
    _an_episode(tmp_path / "a")
    with pytest.raises(ConditionsError) as refused:
        check_and_record(tmp_path, EpisodeSettings(task="stack them", simulate_timeout=True))
    assert str(refused.value) == (
        f"{tmp_path} holds episodes recorded under other simulation flags (--driver.task was "
        f"'{EpisodeSettings().task}', now 'stack them'; --simulate_timeout was False, now True): give the original "
        "flags to resume, or a new --output_dir")
    assert check_and_record(tmp_path, EpisodeSettings())


def test_episodes_without_a_record_are_unchecked_and_get_one(tmp_path):
    _an_episode(tmp_path / "a")
    assert not check_and_record(tmp_path, EpisodeSettings(simulation_time=1.0))
    assert check_and_record(tmp_path, EpisodeSettings(simulation_time=1.0))
    with pytest.raises(ConditionsError):
        check_and_record(tmp_path, EpisodeSettings())


def test_an_unreadable_record_is_refused(tmp_path):
    (tmp_path / RECORD_FILE).write_text('{"flags": ')
    with pytest.raises(ConditionsError, match=f"{RECORD_FILE} is not a sweep's record of its flags"):
        check_and_record(tmp_path, EpisodeSettings())
    (tmp_path / RECORD_FILE).write_text("[]")
    with pytest.raises(ConditionsError, match="move it away"):
        check_and_record(tmp_path, EpisodeSettings())
