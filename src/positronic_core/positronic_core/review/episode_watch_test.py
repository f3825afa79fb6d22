"""EpisodeWatch hands out each finished episode once, and never one caught between its mkdir and its marker."""

from __future__ import annotations

from pathlib import Path

from positronic_core.dataset import DatasetWriter, layout
from positronic_core.review.episode_watch import EpisodeWatch


def _finished(root: Path, value: float = 1.0) -> Path:
    with DatasetWriter(root).new_episode() as episode:
        episode.append("grip", value, 0)
    return episode.path


def test_first_listing_hands_out_every_finished_episode_at_once(tmp_path: Path) -> None:
    done = [_finished(tmp_path) for _ in range(3)]
    recording = DatasetWriter(tmp_path).new_episode()
    watch = EpisodeWatch(tmp_path)
    assert [p for _, p in watch.poll(settle=False)] == done
    assert watch.poll() == []
    recording.append("grip", 0.5, 0)
    recording.finish()
    assert watch.poll() == [(3, recording.path)]
    assert watch.poll() == []


def test_a_directory_first_seen_without_its_marker_waits_one_poll(tmp_path: Path) -> None:
    _finished(tmp_path)
    watch = EpisodeWatch(tmp_path)
    watch.poll(settle=False)
    bare = layout.episode_dir(tmp_path, 1)
    bare.mkdir()  # a writer's mkdir, its `.unfinished` marker not written yet
    assert watch.poll() == []
    (bare / layout.UNFINISHED_MARKER).touch()
    assert watch.poll() == []
    (bare / layout.UNFINISHED_MARKER).unlink()
    assert watch.poll() == [(1, bare)]


def test_new_blocks_are_found(tmp_path: Path) -> None:
    watch = EpisodeWatch(tmp_path)
    assert watch.poll(settle=False) == []
    far = layout.episode_dir(tmp_path, 2500)
    far.mkdir(parents=True)
    assert watch.poll() == []
    assert watch.poll() == [(2500, far)]
