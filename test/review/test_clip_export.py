"""Clip export cuts every signal and video by the same rule and records where the clip came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from positronic_core.dataset import Dataset, DatasetWriter
from positronic_core.review.clip_export import ClipError, check_new_dataset_name, check_range, export_clip

STEP = 100_000_000  # 10 Hz


@pytest.fixture
def source(tmp_path: Path):
    with DatasetWriter(tmp_path / "src").new_episode() as episode:
        for i in range(20):
            episode.append("image.cam", np.full((16, 16, 3), 10 * i, np.uint8), i * STEP)
            episode.append("counter", i, i * STEP)
            if i % 5 == 0:
                episode.append("sparse", float(i), i * STEP + 3 * STEP // 4)  # slower, off the frame clock
        episode.set_static("task", "stack")
        episode.set_static("eval.auto_success", True)
    return Dataset(tmp_path / "src")[0]


def test_clip_keeps_the_range_and_the_value_in_effect_at_its_start(source, tmp_path: Path) -> None:
    start, end = 3 * STEP + STEP // 2, 12 * STEP  # 0.35 s .. 1.2 s
    result = export_clip(source, start, end, tmp_path / "clips", {"dataset": "src", "key": "k", "ref": "r",
                                                                  "start_s": 0.35, "end_s": 1.2})
    clip = Dataset(tmp_path / "clips")[0]
    counter = clip.signal("counter")
    assert list(counter.values) == list(range(3, 13))
    assert counter.timestamps[0] == start and list(counter.timestamps[1:]) == [i * STEP for i in range(4, 13)]
    camera = clip.signal("image.cam")
    assert len(camera) == result.frames["image.cam"] == 10
    assert list(camera.timestamps) == list(counter.timestamps)  # frames cut exactly like the other signals
    assert [int(camera.frame(i)[0, 0, 0]) for i in (0, 9)] == pytest.approx([30, 120], abs=3)
    sparse = clip.signal("sparse")
    assert list(sparse.values) == [0.0, 5.0, 10.0] and sparse.timestamps[0] == start
    for t in (start, start + 1, 7 * STEP, end):
        assert clip.signal("counter").at(t) == source.signal("counter").at(t)
        assert clip.signal("sparse").at(t) == source.signal("sparse").at(t)
    assert clip.static["task"] == "stack" and "eval.auto_success" not in clip.static
    assert clip.static["clip.source_episode"] == "k" and clip.static["clip.start_ts_ns"] == start
    assert clip.static["clip.end_ts_ns"] == end and clip.static["clip.source_dataset"] == "src"


def test_a_range_before_a_signal_starts_leaves_it_out(source, tmp_path: Path) -> None:
    export_clip(source, 0, STEP // 2, tmp_path / "clips", {})
    clip = Dataset(tmp_path / "clips")[0]
    assert "sparse" not in clip and len(clip.signal("counter")) == 1


def test_range_and_name_checks() -> None:
    assert check_range(2.0, 0, 1.5) == (0.0, 1.5)
    for start, end in ((1.0, 0.5), (-0.1, 1.0), (0.0, 2.5), ("0", 1.0), (0.0, float("nan")), (True, 1.0)):
        with pytest.raises(ClipError):
            check_range(2.0, start, end)
    assert check_new_dataset_name("clips-2024.v1") == "clips-2024.v1"
    for name in ("..", "../x", "a/b", ".x", "", "000000000001", "a..b", "x" * 65):
        with pytest.raises(ClipError):
            check_new_dataset_name(name)
