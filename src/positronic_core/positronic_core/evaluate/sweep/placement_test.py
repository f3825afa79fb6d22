from __future__ import annotations

import pytest

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset
from positronic_core.dataset.writer import DatasetWriter
from positronic_core.evaluate.sweep import placement
from positronic_core.evaluate.sweep.plan import MODEL_STATIC, SEED_STATIC, Task


def _record(root, task: Task | None, success: bool = True):
    writer = DatasetWriter(root).new_episode()
    writer.append("grip", 0.0, 1)
    if task is not None:
        writer.set_static(MODEL_STATIC, task.model)
        writer.set_static(SEED_STATIC, task.seed)
    writer.set_static("eval.auto_success", success)
    writer.set_static("eval.final_stacking_success", 0.75)
    return writer.finish()


def test_an_episode_is_published_whole_into_the_slot_named_by_its_seed(tmp_path):
    task = Task("m", 7)
    partial, retried = placement.begin(tmp_path, task)
    assert not retried and (partial / placement.PID_FILE).read_text().strip().isdigit()
    episode = _record(partial, task)
    assert placement.published(tmp_path, task) is None
    assert placement.publish(episode, placement.slot(tmp_path, task))
    [found] = Dataset(tmp_path / "m")
    assert found.id == 7 and found.static[SEED_STATIC] == 7
    result = placement.published(tmp_path, task)
    assert result.already_done and result.success is True and result.progress == 0.75


def test_a_taken_slot_is_not_overwritten(tmp_path):
    task = Task("m", 0)
    first = _record(tmp_path / "one", task)
    second = _record(tmp_path / "two", task, success=False)
    target = placement.slot(tmp_path, task)
    assert placement.publish(first, target)
    assert not placement.publish(second, target)
    assert placement.published(tmp_path, task).success is True


def test_a_dead_attempts_partial_directory_is_found_and_cleared(tmp_path):
    task = Task("m", 3)
    partial, _ = placement.begin(tmp_path, task)
    (partial / "leftover").write_text("half")
    again, retried = placement.begin(tmp_path, task)
    assert retried and not (again / "leftover").exists()
    placement.clear_partials(tmp_path, ["m"])
    assert not (tmp_path / "m" / placement.PARTIAL_DIR).exists()


def test_a_slot_holding_another_episode_is_refused(tmp_path):
    _record(tmp_path / "m", None)  # episode 0, written by something other than a sweep
    with pytest.raises(placement.PlacementError, match="not m seed 0 of a sweep"):
        placement.published(tmp_path, Task("m", 0))
    unfinished = layout.episode_dir(tmp_path / "m", 1)
    unfinished.mkdir(parents=True)
    (unfinished / layout.UNFINISHED_MARKER).write_text("")
    with pytest.raises(placement.PlacementError, match="unfinished"):
        placement.published(tmp_path, Task("m", 1))
