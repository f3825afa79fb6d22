from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from positronic_core.dataset import Dataset, DatasetError, DatasetWriter, Episode, Signal, VideoSignal, layout

T0 = 5_000_000_000
STEP = 50_000_000


class _InMemorySignal(Signal):
    def __init__(self, timestamps: list[int]) -> None:
        self.name = "mem"
        self._ts = np.asarray(timestamps, dtype=np.int64)

    @property
    def timestamps(self) -> np.ndarray:
        return self._ts

    @property
    def values(self) -> np.ndarray:
        return np.arange(len(self._ts))

    def value(self, index: int) -> int:
        return int(self.values[index])


@given(
    st.lists(st.integers(-(10**12), 10**12), min_size=0, max_size=30, unique=True).map(sorted),
    st.integers(-(10**12) - 5, 10**12 + 5),
)
def test_at_is_the_last_sample_at_or_before(timestamps: list[int], query: int) -> None:
    signal = _InMemorySignal(timestamps)
    before = [i for i, ts in enumerate(timestamps) if ts <= query]
    if before:
        assert signal.index_at(query) == before[-1] and signal.at(query) == before[-1]
    else:
        assert signal.index_at(query) is None
        with pytest.raises(KeyError, match="has no value at"):
            signal.at(query)


def _record(root: Path, frames: int = 0, samples: int = 4, task: str = "t") -> Path:
    with DatasetWriter(root).new_episode() as episode:
        for i in range(samples):
            episode.append("grip", i / 10, T0 + i * STEP)
        for i in range(frames):
            image = np.full((48, 64, 3), i * 3, np.uint8)  # frame i is identified by its gray level
            image[8:24, (i % 40) : (i % 40) + 16] = 255
            episode.append("image.cam", image, T0 + 10 + i * STEP)
        episode.set_static("task", task)
    return episode.path


def test_step_lookup_on_a_recorded_signal(tmp_path: Path) -> None:
    _record(tmp_path)
    grip = Dataset(tmp_path)[0].signal("grip")
    assert len(grip) == 4 and grip.start_ts_ns == T0 and grip.last_ts_ns == T0 + 3 * STEP
    with pytest.raises(KeyError, match=f"first sample is at {T0}"):
        grip.at(T0 - 1)
    assert grip.at(T0) == 0.0
    assert grip.at(T0 + STEP - 1) == 0.0
    assert grip.at(T0 + STEP) == 0.1
    assert grip.at(T0 + 100 * STEP) == pytest.approx(0.3)
    assert list(grip) == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_video_random_access_matches_sequential_decoding(tmp_path: Path) -> None:
    _record(tmp_path, frames=75)  # two and a half GOPs
    video = Dataset(tmp_path)[0].signal("image.cam")
    assert isinstance(video, VideoSignal)
    sequential = list(video)
    assert len(sequential) == len(video) == 75
    assert np.allclose([f[32:].mean() for f in sequential], np.arange(75) * 3, atol=1.5)
    order = np.random.default_rng(0).permutation(75).tolist() + [74, 0, 30, 31, 29, 29]
    for index in order:
        assert np.array_equal(video.frame(index), sequential[index]), index
    assert np.array_equal(video.frame(-1), sequential[74])
    assert np.array_equal(video.frame_at(T0 + 10 + 40 * STEP + STEP // 2), sequential[40])
    assert np.array_equal(video.values[3], sequential[3])
    assert len(video.values[10:14]) == 4
    with pytest.raises(KeyError):
        video.frame_at(T0)
    with pytest.raises(IndexError):
        video.frame(75)
    video.close()
    assert np.array_equal(video.frame(12), sequential[12])  # reopens after close


def test_videos_stay_closed_until_a_frame_is_asked_for(tmp_path: Path) -> None:
    path = _record(tmp_path, frames=5)
    (path / "image.cam.mp4").write_bytes(b"not a video")
    episode = Dataset(tmp_path)[0]
    assert episode.signal_names == ["grip", "image.cam"] and episode.video_names == ["image.cam"]
    video = episode.signal("image.cam")
    assert len(video) == 5 and episode.duration_ns == 4 * STEP and episode.start_ts_ns == T0 + 10
    assert episode.static == {"task": "t"}
    with pytest.raises(DatasetError, match="cannot open video"):
        video.frame(0)


def test_dataset_lists_finished_episodes_by_id(tmp_path: Path) -> None:
    for k in range(3):
        _record(tmp_path, task=f"task {k}")
    unfinished = DatasetWriter(tmp_path).new_episode()
    unfinished.append("grip", 0.0, T0)
    dataset = Dataset(tmp_path)
    assert len(dataset) == 3 and dataset.ids == [0, 1, 2]
    assert [episode.static["task"] for episode in dataset] == ["task 0", "task 1", "task 2"]
    assert dataset[-1].id == 2 and dataset.episode(1).static["task"] == "task 1"
    with pytest.raises(KeyError):
        dataset.episode(3)
    with pytest.raises(DatasetError, match="unfinished"):
        Episode(unfinished.path)
    unfinished.finish()
    assert Dataset(tmp_path).ids == [0, 1, 2, 3]


def test_an_episode_without_signals(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path).new_episode() as episode:
        episode.set_static("task", "nothing happened")
    (read,) = Dataset(tmp_path)
    assert read.signal_names == [] and read.duration_ns == 0 and read.start_ts_ns is None
    with pytest.raises(KeyError, match="no signal 'grip'"):
        read.signal("grip")


def test_missing_root_and_stray_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        Dataset(tmp_path / "nope")
    _record(tmp_path)
    (tmp_path / "000000000000" / "README").write_text("not an episode")
    (tmp_path / "12345").mkdir()
    assert Dataset(tmp_path).ids == [0]
    assert layout.parse_id("000000000007") == 7 and layout.parse_id("7") is None
