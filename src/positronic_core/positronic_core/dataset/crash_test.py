"""A recording process killed mid-episode (SIGKILL: no cleanup runs) must not damage the dataset."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from upstream_peer import SKIP_REASON, run_upstream, upstream_python

import positronic_core
from positronic_core.dataset import Dataset, DatasetWriter, layout

# Records two finished episodes, then records a third until killed.
RECORDER = """
import sys, time
from pathlib import Path
import numpy as np
from positronic_core.dataset import DatasetWriter

writer = DatasetWriter(Path(sys.argv[1]))
writer.preflight(min_free_bytes=0)

def record(episode, i):
    ts = 10**9 + i * 66_666_667
    for camera in ('image.wrist', 'image.exterior'):
        episode.append(camera, np.full((48, 64, 3), (5 * i) % 250, np.uint8), ts)
    episode.append('robot_state.q', np.full(7, float(i)), ts)
    episode.append('grip', i % 2, ts)

for k in range(2):
    with writer.new_episode() as episode:
        for i in range(30):
            record(episode, i)
        episode.set_static('task', f'episode {k}')

episode = writer.new_episode()
episode.set_static('task', 'killed')
i = 0
while True:
    record(episode, i)
    i += 1
    if i == 40:
        print('RECORDING', episode.path, flush=True)
    time.sleep(0.002)
"""

UPSTREAM_SUMMARY = """
import json, sys
from pathlib import Path
from positronic.dataset.local_dataset import LocalDataset
ds = LocalDataset(Path(sys.argv[1]))
print(json.dumps([{'task': ep['task'], 'frames': len(ep['image.wrist']),
                   'last_frame_shape': list(ep['image.wrist'][-1][0].shape)} for ep in ds]))
"""


@pytest.fixture(scope="module")
def killed_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("killed")
    env = dict(os.environ, PYTHONPATH=str(Path(positronic_core.__file__).parents[1]))
    recorder = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        line = recorder.stdout.readline()
        assert line.startswith("RECORDING"), recorder.stderr.read()
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    assert recorder.returncode == -signal.SIGKILL
    return root, Path(line.split(" ", 1)[1].strip())


def test_killed_episode_keeps_its_marker_and_earlier_episodes_survive(killed_dataset: tuple[Path, Path]) -> None:
    root, partial = killed_dataset
    assert partial == layout.episode_dir(root, 2)
    assert (partial / layout.UNFINISHED_MARKER).exists()
    assert (partial / "image.wrist.mp4").exists()  # frames were being encoded to disk as they came

    dataset = Dataset(root)
    assert dataset.ids == [0, 1]
    for k, episode in enumerate(dataset):
        assert episode.static == {"task": f"episode {k}"}
        assert len(episode.signal("image.wrist")) == 30 and episode.signal("robot_state.q").values.shape == (30, 7)
        frames = list(episode.signal("image.exterior"))
        assert len(frames) == 30 and abs(frames[29].mean() - 145) < 2
        assert episode.signal("grip").values.tolist() == [i % 2 for i in range(30)]

    assert DatasetWriter(root).next_episode_id() == 3  # the killed episode's id is never reused


def test_upstream_skips_the_killed_episode(killed_dataset: tuple[Path, Path]) -> None:
    if upstream_python() is None:
        pytest.skip(SKIP_REASON)
    root, _ = killed_dataset
    seen = run_upstream(UPSTREAM_SUMMARY, str(root))
    assert seen == [{"task": f"episode {k}", "frames": 30, "last_frame_shape": [48, 64, 3]} for k in range(2)]
