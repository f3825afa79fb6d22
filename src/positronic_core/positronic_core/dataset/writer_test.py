import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from positronic_core.dataset import Dataset, DatasetError, DatasetWriter, InvalidSampleError, layout

T0 = 1_700_000_000_000_000_000
STEP = 66_666_667  # 15 Hz


def frame(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    image = np.full((height, width, 3), (i * 7) % 200, dtype=np.uint8)
    image[:, :, 1] = 30
    return image


def test_round_trip_of_every_value_kind(tmp_path: Path) -> None:
    samples = {
        "flag": [True, False, True],
        "count": [1, 2, np.int64(3)],
        "grip": [0.0, 0.5, 1],  # an int joins a float signal as a float
        "small": [np.float32(0.25), np.float32(0.5), np.float32(0.75)],
        "label": ["a", "b", "c"],
        "robot_state.q": [np.arange(7.0), np.arange(7.0) + 1, np.arange(7.0) + 2],
        "robot_state.ee_pose": [[0.1, 0.2, 0.3, 1.0, 0.0, 0.0, 0.0]] * 3,
        "joints32": [np.ones(3, np.float32) * k for k in range(3)],
        "ticks": [np.array([1, 2], np.int32), np.array([3, 4], np.int32), np.array([5, 6], np.int32)],
        "image.wrist": [frame(0), frame(10), frame(20)],
    }
    writer = DatasetWriter(tmp_path)
    with writer.new_episode() as episode:
        for name, values in samples.items():
            for i, value in enumerate(values):
                episode.append(name, value, T0 + i * STEP)
        episode.set_static("task", "stack the cubes")
        episode.set_static("inference.policy", {"type": "act", "server": {"checkpoint_id": None, "port": 8000}})
        episode.set_static("eval.success", True)
        episode.set_static("eval.score", np.float64(0.75))
        episode.set_static("joint_names", ("j1", "j2"))
        episode.set_static("urdf", b"\x00<robot/>")

    (read,) = Dataset(tmp_path)
    assert read.id == 0 and read.signal_names == sorted(samples)
    assert read.static == {
        "task": "stack the cubes",
        "inference.policy": {"type": "act", "server": {"checkpoint_id": None, "port": 8000}},
        "eval.success": True,
        "eval.score": 0.75,
        "joint_names": ["j1", "j2"],
        "urdf": b"\x00<robot/>",
    }
    expected_ts = T0 + np.arange(3) * STEP
    for name in samples:
        assert np.array_equal(read.signal(name).timestamps, expected_ts), name
    values = {name: read.signal(name).values for name in samples if name != "image.wrist"}
    assert values["flag"].dtype == np.bool_ and values["flag"].tolist() == [True, False, True]
    assert values["count"].dtype == np.int64 and values["count"].tolist() == [1, 2, 3]
    assert values["grip"].dtype == np.float64 and values["grip"].tolist() == [0.0, 0.5, 1.0]
    assert values["small"].dtype == np.float32
    assert values["label"].tolist() == ["a", "b", "c"]
    assert values["robot_state.q"].shape == (3, 7) and np.array_equal(values["robot_state.q"][2], np.arange(7.0) + 2)
    assert values["robot_state.ee_pose"].shape == (3, 7)
    assert values["joints32"].dtype == np.float32 and values["joints32"].shape == (3, 3)
    assert values["ticks"].dtype == np.int32 and values["ticks"].tolist() == [[1, 2], [3, 4], [5, 6]]
    video = read.signal("image.wrist")
    assert len(video) == 3 and video.frame_shape == (48, 64, 3)
    for i, image in enumerate(video):
        assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
        assert np.abs(image.astype(int) - samples["image.wrist"][i]).mean() < 2
    meta = read.meta
    assert meta["schema_version"] == 1 and meta["writer"]["name"] == "positronic_core.dataset.EpisodeWriter"
    assert meta["duration_ns"] == read.duration_ns == 2 * STEP and read.start_ts_ns == T0
    assert not (read.path / layout.UNFINISHED_MARKER).exists()


def test_recorded_values_are_copies_of_caller_buffers(tmp_path: Path) -> None:
    buffer = np.zeros(3)
    image = frame(0)
    with DatasetWriter(tmp_path).new_episode() as episode:
        for i in range(3):
            buffer[:] = i
            image[:] = 60 * i
            episode.append("v", buffer, T0 + i)
            episode.append("image.cam", image, T0 + i)
    read = Dataset(tmp_path)[0]
    assert read.signal("v").values[:, 0].tolist() == [0.0, 1.0, 2.0]
    means = [float(f.mean()) for f in read.signal("image.cam")]
    assert np.allclose(means, [0, 60, 120], atol=2)


def test_unfinished_marker_lives_exactly_until_finish(tmp_path: Path) -> None:
    episode = DatasetWriter(tmp_path).new_episode()
    assert episode.path == tmp_path / "000000000000" / "000000000000"
    assert (episode.path / layout.UNFINISHED_MARKER).exists()
    episode.append("image.cam", frame(0), T0)
    episode.append("x", 1.0, T0)
    assert len(Dataset(tmp_path)) == 0
    assert episode.finish() == episode.path
    assert not (episode.path / layout.UNFINISHED_MARKER).exists()
    assert episode.state == "finished" and len(Dataset(tmp_path)) == 1
    with pytest.raises(DatasetError, match="finished"):
        episode.append("x", 2.0, T0 + 1)
    with pytest.raises(DatasetError, match="finished"):
        episode.abort()


def test_new_episodes_continue_after_the_highest_id_across_blocks(tmp_path: Path) -> None:
    (tmp_path / "000000000000" / "000000000998").mkdir(parents=True)
    unfinished = tmp_path / "000000000000" / "000000000999"
    unfinished.mkdir()
    (unfinished / layout.UNFINISHED_MARKER).write_text("")
    (tmp_path / "notes").mkdir()
    (tmp_path / "run_metadata_2025.yaml").write_text("x: 1\n")
    writer = DatasetWriter(tmp_path)
    assert writer.next_episode_id() == 1000
    first = writer.new_episode()
    second = writer.new_episode()
    assert first.id == 1000 and first.path == tmp_path / "000000001000" / "000000001000"
    assert second.id == 1001
    second.finish()
    first.finish()
    assert Dataset(tmp_path).ids == [998, 1000, 1001]
    assert [episode.id for episode in Dataset(tmp_path)] == [998, 1000, 1001]
    # A later writer on the same root (a re-run into the same output directory) appends.
    assert DatasetWriter(tmp_path).new_episode().id == 1002


def test_abort_leaves_nothing_behind(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path)
    episode = writer.new_episode()
    for i in range(5):
        episode.append("image.cam", frame(i), T0 + i * STEP)
        episode.append("q", np.zeros(7), T0 + i * STEP)
    episode.set_static("task", "t")
    episode.abort()
    assert not episode.path.exists() and episode.state == "aborted"
    assert list(episode.path.parent.iterdir()) == []
    assert len(Dataset(tmp_path)) == 0
    with pytest.raises(DatasetError, match="aborted"):
        episode.append("q", np.zeros(7), T0 + 10 * STEP)
    episode.abort()  # idempotent


@pytest.mark.parametrize("signal", ["grip", "image.cam"])
def test_timestamps_must_strictly_increase(tmp_path: Path, signal: str) -> None:
    value = frame(0) if signal == "image.cam" else 0.5
    episode = DatasetWriter(tmp_path).new_episode()
    episode.append(signal, value, T0)
    with pytest.raises(InvalidSampleError, match=rf"signal '{signal}': timestamp {T0} repeats"):
        episode.append(signal, value, T0)
    with pytest.raises(InvalidSampleError, match=rf"signal '{signal}': timestamp {T0 - 1} is before"):
        episode.append(signal, value, T0 - 1)
    with pytest.raises(InvalidSampleError, match=rf"signal '{signal}': timestamp must be an integer"):
        episode.append(signal, value, float(T0 + 1))
    episode.append(signal, value, T0 + 1)  # a rejected sample does not poison the signal
    episode.finish()
    assert len(Dataset(tmp_path)[0].signal(signal)) == 2


def test_signals_keep_their_kind(tmp_path: Path) -> None:
    episode = DatasetWriter(tmp_path).new_episode()
    episode.append("count", 1, T0)
    episode.append("q", np.zeros(7), T0)
    episode.append("image.cam", frame(0), T0)
    episode.append("v", np.zeros(3), T0)
    with pytest.raises(InvalidSampleError, match="'count'.*float64.*int64"):
        episode.append("count", 1.5, T0 + 1)
    with pytest.raises(InvalidSampleError, match=r"'q'.*shape \(6,\)"):
        episode.append("q", np.zeros(6), T0 + 1)
    with pytest.raises(InvalidSampleError, match="'image.cam' is a video"):
        episode.append("image.cam", np.zeros(3), T0 + 1)
    with pytest.raises(InvalidSampleError, match="'image.cam'.*32x24"):
        episode.append("image.cam", frame(0, 24, 32), T0 + 1)
    with pytest.raises(InvalidSampleError, match="'v' started as a non-image"):
        episode.append("v", frame(0), T0 + 1)
    with pytest.raises(InvalidSampleError, match="'pose'.*shape \\(4, 4\\)"):
        episode.append("pose", np.eye(4), T0)
    with pytest.raises(InvalidSampleError, match="'odd'.*even width and height"):
        episode.append("odd", np.zeros((5, 5, 3), np.uint8), T0)
    with pytest.raises(InvalidSampleError, match="'obj'"):
        episode.append("obj", {"a": 1}, T0)
    with pytest.raises(InvalidSampleError, match="must not contain '/'"):
        episode.append("a/b", 1.0, T0)
    assert episode.signal_names == ["count", "image.cam", "q", "v"]
    episode.abort()


def test_static_collisions_and_invalid_statics(tmp_path: Path) -> None:
    episode = DatasetWriter(tmp_path).new_episode()
    episode.set_static("task", "a")
    episode.append("grip", 0.0, T0)
    with pytest.raises(InvalidSampleError, match="'task' is already set"):
        episode.set_static("task", "b")
    with pytest.raises(InvalidSampleError, match="'grip' is already a signal"):
        episode.set_static("grip", 1)
    with pytest.raises(InvalidSampleError, match="'task' is already a static"):
        episode.append("task", 1.0, T0)
    with pytest.raises(InvalidSampleError, match=r"'scores\[1\]'.*not finite"):
        episode.set_static("scores", [1.0, float("nan")])
    with pytest.raises(InvalidSampleError, match="'cfg.k'.*ndarray"):
        episode.set_static("cfg", {"k": np.zeros(2)})
    episode.finish()
    assert Dataset(tmp_path)[0].static == {"task": "a"}


def test_exception_in_context_closes_but_keeps_the_episode_unfinished(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path)
    with pytest.raises(RuntimeError, match="policy crashed"):
        with writer.new_episode() as episode:
            for i in range(3):
                episode.append("image.cam", frame(i), T0 + i * STEP)
                episode.append("q", np.zeros(7), T0 + i * STEP)
            raise RuntimeError("policy crashed")
    assert episode.state == "failed"
    assert (episode.path / layout.UNFINISHED_MARKER).exists()
    assert (episode.path / "q.parquet").exists() and (episode.path / "image.cam.frames.parquet").exists()
    assert len(Dataset(tmp_path)) == 0
    assert writer.new_episode().id == 1


def test_preflight_accepts_a_fresh_directory_and_leaves_it_to_the_first_episode(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    writer = DatasetWriter(root)
    writer.preflight()
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []
    assert writer.new_episode().path.parent.parent == root


def test_preflight_rejects_a_file(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("")
    with pytest.raises(DatasetError, match="exists but is not a directory"):
        DatasetWriter(path).preflight()
    with pytest.raises(DatasetError, match="cannot create dataset root"):
        DatasetWriter(path / "inside").preflight()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permission bits")
def test_preflight_rejects_an_unwritable_directory(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(DatasetError, match="is not writable"):
            DatasetWriter(root).preflight()
    finally:
        root.chmod(0o700)


def test_preflight_reports_a_failed_write_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root (as in CI containers) ignores permission bits, so simulate what a read-only mount answers.
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("positronic_core.dataset.writer.tempfile.TemporaryFile", refuse)
    with pytest.raises(DatasetError, match="is not writable: Read-only file system"):
        DatasetWriter(tmp_path).preflight()


def test_preflight_rejects_a_nearly_full_disk(tmp_path: Path) -> None:
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(DatasetError, match="disk nearly full: .* MiB free"):
        DatasetWriter(tmp_path).preflight(min_free_bytes=free + 2**40)


def test_meta_and_static_files_are_plain_json(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path).new_episode() as episode:
        episode.set_static("task", "t")
    static = json.loads((episode.path / "static.json").read_text())
    meta = json.loads((episode.path / "meta.json").read_text())
    assert static == {"task": "t"}
    assert meta["created_ts_ns"] == episode.created_ts_ns and meta["duration_ns"] == 0
    assert set(meta["writer"]) == {"name", "version", "python", "platform"}
