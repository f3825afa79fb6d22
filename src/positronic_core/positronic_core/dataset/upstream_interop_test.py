"""Interoperability with upstream Positronic 0.2.1, run in its own venv (see `upstream_peer`)."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from upstream_peer import SKIP_REASON, run_upstream, upstream_python

from positronic_core.dataset import Dataset, DatasetWriter

T0 = 1_000_000_000
STEP = 66_666_667

# Prints every finished episode as upstream's reader sees it.
UPSTREAM_DUMP = """
import json, sys
from pathlib import Path
import numpy as np
from positronic.dataset.local_dataset import LocalDataset

out = []
for ep in LocalDataset(Path(sys.argv[1])):
    signals = {}
    for name, sig in ep.signals.items():
        items = [sig[i] for i in range(len(sig))]
        image = name.startswith('image.')
        values = [v.mean(axis=(0, 1)).tolist() if image else np.asarray(v).tolist() for v, _ in items]
        shapes = [list(np.shape(v)) for v, _ in items]
        signals[name] = {'ts': [int(t) for _, t in items], 'values': values, 'shapes': shapes}
    out.append({'static': {k: v for k, v in ep.static.items() if not isinstance(v, bytes)},
                'duration_ns': int(ep.duration_ns), 'signals': signals})
print(json.dumps(out))
"""

# Writes `count` finished episodes with upstream's writer, then leaves one unfinished.
UPSTREAM_WRITE = """
import json, sys
from pathlib import Path
import numpy as np
from positronic.dataset.local_dataset import LocalDatasetWriter

writer = LocalDatasetWriter(Path(sys.argv[1]))
for k in range(int(sys.argv[2])):
    with writer.new_episode() as ep:
        for i in range(12):
            ts = 10**9 + i * 50_000_000
            ep.append('image.cam', np.full((48, 64, 3), 10 * i, np.uint8), ts, extra_ts={'system': ts + 7})
            ep.append('robot_state.q', np.arange(7.0) + i + 100 * k, ts)
            ep.append('grip', i / 10, ts)
        ep.set_static('task', f'upstream {k}')
        ep.set_static('inference.policy.type', 'act')
crashed = writer.new_episode()
crashed.append('grip', 0.5, 1)
print(json.dumps({'unfinished': str(crashed.path)}))
"""


@pytest.fixture(scope="module")
def upstream() -> Any:
    if upstream_python() is None:
        pytest.skip(SKIP_REASON)
    return run_upstream


def _frame(i: int) -> np.ndarray:
    image = np.full((48, 64, 3), 20 + 8 * i, np.uint8)
    image[:, :, 2] = 40
    return image


def test_upstream_reads_what_we_write(tmp_path: Path, upstream: Any) -> None:
    writer = DatasetWriter(tmp_path)
    for k in range(2):
        with writer.new_episode() as episode:
            for i in range(20):
                ts = T0 + i * STEP
                episode.append("image.wrist", _frame(i), ts)
                episode.append("robot_state.q", np.linspace(0, 1, 7) + i + k, ts)
                episode.append("grip", i / 20, ts)
                episode.append("robot_commands.reset", 1, ts)
                episode.append("label", f"step {i}", ts)
            episode.set_static("task", f"task {k}")
            episode.set_static("eval", {"success": k == 1, "score": 0.5})
            episode.set_static("urdf", b"<robot/>")
    half = writer.new_episode()
    half.append("grip", 0.0, T0)

    seen = upstream(UPSTREAM_DUMP, str(tmp_path))

    assert len(seen) == 2  # the unfinished episode is skipped
    for k, (episode, ours) in enumerate(zip(seen, Dataset(tmp_path), strict=True)):
        assert episode["static"] == {"task": f"task {k}", "eval": {"success": k == 1, "score": 0.5}}
        assert episode["duration_ns"] == ours.duration_ns == 19 * STEP
        signals = episode["signals"]
        # 0.2.1 sees the command under both names (0.4.x's `robot_command.*` is a link); ours lists it once.
        assert sorted(signals) == sorted([*ours.signal_names, "robot_command.reset"])
        for name, got in signals.items():
            assert got["ts"] == ours.signal(name).timestamps.tolist(), name
        assert np.array_equal(np.array(signals["robot_state.q"]["values"]), ours.signal("robot_state.q").values)
        assert signals["grip"]["values"] == ours.signal("grip").values.tolist()
        assert signals["robot_commands.reset"]["values"] == signals["robot_command.reset"]["values"] == [1] * 20
        assert signals["label"]["values"] == [f"step {i}" for i in range(20)]
        video = signals["image.wrist"]
        assert video["shapes"] == [[48, 64, 3]] * 20
        # Same bitstream through both decoders: frame i must be frame i, not a neighbour.
        ours_means = [frame.mean(axis=(0, 1)) for frame in ours.signal("image.wrist")]
        assert np.allclose(video["values"], ours_means, atol=1.0)
        assert np.allclose(np.array(video["values"])[:, 0], [20 + 8 * i for i in range(20)], atol=2.5)


def test_upstream_reads_a_video_retimed_to_its_recorded_rate(tmp_path: Path, upstream: Any) -> None:
    # 10 Hz with a few ms of jitter: not the encoder's 15 fps, so the file is retimed when the episode finishes.
    jitter = np.random.default_rng(3).integers(-3_000_000, 3_000_000, size=20)
    timestamps = [T0 + i * 100_000_000 + int(jitter[i]) * (0 < i < 19) for i in range(20)]
    with DatasetWriter(tmp_path).new_episode() as episode:
        for i, ts in enumerate(timestamps):
            episode.append("image.wrist", _frame(i), ts)

    (seen,) = upstream(UPSTREAM_DUMP, str(tmp_path))

    video = seen["signals"]["image.wrist"]
    assert video["ts"] == timestamps
    assert np.allclose(np.array(video["values"])[:, 0], [20 + 8 * i for i in range(20)], atol=2.5)


def test_we_read_and_append_to_a_dataset_upstream_wrote(tmp_path: Path, upstream: Any) -> None:
    written = upstream(UPSTREAM_WRITE, str(tmp_path), "2")
    assert Path(written["unfinished"]).name == "000000000002"

    dataset = Dataset(tmp_path)
    assert dataset.ids == [0, 1]
    for k, episode in enumerate(dataset):
        assert episode.static == {"task": f"upstream {k}", "inference.policy.type": "act"}
        assert episode.meta["schema_version"] == 1
        assert episode.signal_names == ["grip", "image.cam", "robot_state.q"]
        q = episode.signal("robot_state.q")
        assert q.values.shape == (12, 7) and np.array_equal(q.values[3], np.arange(7.0) + 3 + 100 * k)
        assert episode.signal("grip").at(10**9 + 2 * 50_000_000 + 1) == pytest.approx(0.2)
        video = episode.signal("image.cam")
        assert video.frame_shape == (48, 64, 3) and len(video) == 12
        assert np.allclose([video.frame(i).mean() for i in (11, 0, 5)], [110, 0, 50], atol=2)
        assert episode.duration_ns == 11 * 50_000_000

    # Our writer continues after the highest id, the unfinished one included.
    with DatasetWriter(tmp_path).new_episode() as episode:
        assert episode.id == 3
        for i in range(5):
            episode.append("image.cam", _frame(i), T0 + i * STEP)
            episode.append("robot_state.q", np.zeros(7) + i, T0 + i * STEP)
        episode.set_static("task", "ours")
    assert Dataset(tmp_path).ids == [0, 1, 3]

    seen = upstream(UPSTREAM_DUMP, str(tmp_path))
    assert [episode["static"]["task"] for episode in seen] == ["upstream 0", "upstream 1", "ours"]
    assert seen[2]["signals"]["robot_state.q"]["values"][4] == [4.0] * 7


# Upstream's default libx264 settings use B-frames, so presentation order differs from decode order.
UPSTREAM_LONG_VIDEO = """
import json, sys
from pathlib import Path
import numpy as np
from positronic.dataset.local_dataset import LocalDatasetWriter

with LocalDatasetWriter(Path(sys.argv[1])).new_episode() as ep:
    for i in range(95):
        image = np.full((48, 64, 3), 2 * i, np.uint8)
        image[8:24, i % 40 : i % 40 + 16] = 255
        ep.append('image.cam', image, 10**9 + i * 1000)
print(json.dumps({}))
"""


def test_random_access_into_upstream_b_frame_video(tmp_path: Path, upstream: Any) -> None:
    upstream(UPSTREAM_LONG_VIDEO, str(tmp_path))
    video = Dataset(tmp_path)[0].signal("image.cam")
    sequential = list(video)
    assert np.allclose([frame[32:].mean() for frame in sequential], np.arange(95) * 2, atol=1.5)
    order = np.random.default_rng(1).permutation(95).tolist() + [94, 93, 0, 1, 30, 29, 60, 61]
    for index in order:
        assert np.array_equal(video.frame(index), sequential[index]), index
