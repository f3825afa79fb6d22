"""Recorded mp4s play at the recorded rate in any player, and upstream's pts-to-frame-index rule still holds."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from positronic_core.dataset import Dataset, DatasetWriter, layout
from positronic_core.dataset.video import recording_rate

T0 = 1_700_000_000_000_000_000


def frame(i: int) -> np.ndarray:
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:, :, 0] = (i * 9) % 250
    image[:, :, 2] = 60
    return image


def record(root: Path, timestamps: list[int]) -> Path:
    with DatasetWriter(root).new_episode() as episode:
        for i, ts in enumerate(timestamps):
            episode.append("image.wrist", frame(i), ts)
    return layout.video_file(Dataset(root)[0].path, "image.wrist")


def upstream_frame_indices(video: Path) -> list[int]:
    """Upstream 0.2.1's `_VideoNavigator`: index = pts // ticks_per_frame, ticks from the stream's rate."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.rate
        ticks = max(1, round(1.0 / (float(rate) * float(stream.time_base))))
        return [packet.pts // ticks for packet in container.demux(stream) if packet.pts is not None]


def test_a_15_fps_recording_is_tagged_15_fps_and_lasts_its_frames(tmp_path: Path) -> None:
    video = record(tmp_path, [T0 + i * 66_666_667 for i in range(45)])
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 15
        assert stream.frames == 45
        assert float(stream.duration * stream.time_base) == pytest.approx(45 / 15)
        assert container.duration / av.time_base == pytest.approx(45 / 15)
    assert upstream_frame_indices(video) == list(range(45))


@pytest.mark.parametrize("step_ns", [33_366_667, 100_000_000, 40_000_000])
def test_other_rates_are_retimed_keeping_every_frame_in_place(tmp_path: Path, step_ns: int) -> None:
    # Real cameras jitter: a few ms either way around the nominal step.
    jitter = np.random.default_rng(step_ns).integers(-3_000_000, 3_000_000, size=30)
    timestamps = [T0 + i * step_ns + int(jitter[i]) * (0 < i < 29) for i in range(30)]
    video = record(tmp_path, timestamps)
    rate = recording_rate(timestamps)
    assert rate == pytest.approx(1e9 / step_ns, rel=1e-3)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == rate
        assert float(stream.duration * stream.time_base) == pytest.approx(30 / rate)
    assert upstream_frame_indices(video) == list(range(30))
    signal = Dataset(tmp_path)[0].signal("image.wrist")
    assert np.array_equal(signal.timestamps, timestamps)
    for i, image in enumerate(signal):
        assert np.abs(image.astype(int) - frame(i)).mean() < 2, i
    assert not list(video.parent.glob(".*.retiming"))


def test_recording_rate_is_exact_for_regular_steps() -> None:
    assert recording_rate([T0 + i * 66_666_667 for i in range(300)]) == 15
    assert recording_rate([T0 + round(i * 1e9 * 1001 / 30000) for i in range(300)]) == Fraction(30000, 1001)
    assert recording_rate([T0]) is None
