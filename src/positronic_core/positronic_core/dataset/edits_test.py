"""Edit logs applied on read: 0.4.x's order (dataset root, directories above, the episode's own log last), last
write wins, bad lines skipped. The same order is checked against 0.4.1's own reader in
test/review/test_upstream04_datasets.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from positronic_core.dataset import Dataset, DatasetWriter
from positronic_core.dataset.edits import EDITS_FILE, EditLogs, append_edit, episode_uid, log_dirs


def _write(root: Path, count: int) -> list[str]:
    writer = DatasetWriter(root)
    uids = []
    for k in range(count):
        with writer.new_episode() as episode:
            episode.append("grip", float(k), 1_000)
            episode.set_static("eval.outcome", "Fail")
        uids.append(episode.uid)
    return uids


def _log(directory: Path, *records: dict) -> None:
    with (directory / EDITS_FILE).open("a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def test_edits_apply_root_first_then_the_episode_log_last_write_wins(tmp_path: Path) -> None:
    uids = _write(tmp_path, 3)
    episode_dir = Dataset(tmp_path, apply_edits=False)[1].path
    _log(tmp_path, {"op": "drop", "v": 1, "ep": uids[0]}, {"op": "drop", "v": 1, "ep": uids[1]},
         {"op": "set_static", "v": 1, "ep": uids[1], "data": {"eval.outcome": "System", "note": "root"}})
    append_edit(episode_dir, "undrop", uids[1])
    append_edit(episode_dir, "set_static", uids[1], {"eval.outcome": "Success", "blob": b"\x00\x01"})
    dataset = Dataset(tmp_path)
    assert dataset.ids == [1, 2]
    edited = dataset.episode(1)
    assert edited.static == {"eval.outcome": "Success", "note": "root", "blob": b"\x00\x01"}
    assert edited.recorded_static == {"eval.outcome": "Fail"}
    assert Dataset(tmp_path, apply_edits=False).ids == [0, 1, 2]
    # A later drop in the episode's own log wins over everything before it.
    append_edit(episode_dir, "drop", uids[1])
    assert Dataset(tmp_path).ids == [2]


def test_logs_above_the_dataset_apply_after_its_own_root(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "a"
    (uid,) = _write(root, 1)
    _log(tmp_path, {"op": "set_static", "v": 1, "ep": uid, "data": {"k": "top"}})
    _log(root, {"op": "set_static", "v": 1, "ep": uid, "data": {"k": "root", "j": 1}})
    dirs = log_dirs(root, tmp_path)
    assert dirs == [root.resolve(), (tmp_path / "runs").resolve(), tmp_path.resolve()]
    logs = EditLogs()
    edits = logs.edits(uid, Dataset(root)[0].path, logs.shared(dirs))
    assert edits.statics == {"k": "top", "j": 1} and not edits.dropped


def test_bad_lines_are_skipped_and_uids_fall_back_to_the_creation_time(tmp_path: Path, caplog) -> None:
    (uid,) = _write(tmp_path, 1)
    (tmp_path / EDITS_FILE).write_text('not json\n{"op": "rename", "v": 1, "ep": "x"}\n'
                                       + json.dumps({"op": "drop", "v": 1, "ep": uid}) + "\n")
    with caplog.at_level(logging.WARNING):
        assert len(Dataset(tmp_path)) == 0
    assert sum("skipping edit record" in r.message for r in caplog.records) == 2
    assert episode_uid({"uid": "abc", "created_ts_ns": 5}) == "abc"
    assert episode_uid({"created_ts_ns": 5}) == "ts-5"  # 0.4.x's identity of a recording without a uid
    assert episode_uid({}) is None


def test_our_command_signals_also_carry_upstream_0_4_names(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path).new_episode() as episode:
        episode.append("robot_commands.pose", np.arange(7.0), 1_000)
        episode.append("robot_commands.pose", np.arange(7.0) + 1, 2_000)
    ours = episode.path / "robot_commands.pose.parquet"
    theirs = episode.path / "robot_command.pose.parquet"
    assert ours.stat().st_ino == theirs.stat().st_ino  # a hard link: one file, two names
    (read,) = Dataset(tmp_path)
    assert read.signal_names == ["robot_commands.pose"] and "robot_command.pose" in read
    assert read.signal("robot_command.pose") is read.signal("robot_commands.pose")
