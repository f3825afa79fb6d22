"""Synthetic evaluation datasets written with our `DatasetWriter`, for the review tests and `bench/review.py`.

Each episode looks like a short sim evaluation run: joint state and commands, EE pose, grip, a `stacking_success`
score that either reaches 1 and holds (success) or does not, inference request times with latencies, and
optionally camera videos. Statics name the task, seed and policy (remote, with a checkpoint id) the way
`positronic-inference sim --policy=.remote` records them. Everything is derived from `seed`, so two calls with the
same arguments write the same data (apart from meta timestamps and uids).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from positronic_core.dataset.writer import DatasetWriter
from positronic_core.stacking_task import TASK

TASKS = (TASK, "Stack the red cube on the blue cube.")


def write_synthetic_dataset(root: Path, episodes: int, *, ticks: int = 30, fps: float = 15.0,
                            checkpoints: tuple[str, ...] = ("10000", "20000"), seeds: int = 10,
                            cameras: tuple[str, ...] = (), camera_size: tuple[int, int] = (64, 48),
                            record_verdict: bool = True, success_rate: float = 0.6, minimal: bool = False,
                            seed: int = 0) -> list[Path]:
    """Write `episodes` finished episodes under `root` and return their directories.

    Episode k runs checkpoint `checkpoints[k % len]` on scene seed `(k // len) % seeds`; it succeeds with
    probability `success_rate`. With `record_verdict` the statics carry `eval.auto_success` like our sim runs do;
    without it only the `stacking_success` signal tells (as in upstream recordings). `minimal` records only joint
    positions, grip, the stacking score and inference latency (fewer files: datasets of 10,000 episodes).
    """
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(Path(root))
    step = int(round(1e9 / fps))
    paths = []
    for k in range(episodes):
        checkpoint = checkpoints[k % len(checkpoints)]
        scene = (k // len(checkpoints)) % seeds
        success = bool(rng.random() < success_rate)
        length = ticks + int(rng.integers(0, max(1, ticks // 3)))
        with writer.new_episode() as episode:
            q = rng.normal(0, 0.3, 7)
            for i in range(length):
                ts = i * step
                q = q + rng.normal(0, 0.02, 7)
                pose = np.array([0.4 + 0.1 * np.sin(i / 9), 0.05 * np.cos(i / 7), 0.25 - 0.001 * i, 0, 1, 0, 0])
                episode.append("robot_state.q", q, ts)
                grip = 1.0 if length // 3 < i < 2 * length // 3 else 0.0
                episode.append("grip", 0.8 * grip, ts)
                if not minimal:
                    episode.append("robot_state.ee_pose", pose, ts)
                    episode.append("robot_commands.pose", pose + rng.normal(0, 0.003, 7), ts)
                    episode.append("target_grip", grip, ts)
                reached = success and i >= length - max(9, int(0.6 * fps))
                episode.append("stacking_success", 1.0 if reached else min(0.5, i / length), ts)
                if i % 10 == 0:
                    episode.append("inference.latency_ms", float(20 + rng.gamma(2.0, 5.0)), ts)
                    if not minimal:
                        episode.append("inference.chunk_size", 10, ts)
                for c, camera in enumerate(cameras):
                    width, height = camera_size
                    frame = np.zeros((height, width, 3), np.uint8)
                    frame[:, :, c % 3] = 40 + (i * 7) % 200
                    frame[height // 3: height // 2, (i * 3) % width:(i * 3) % width + 6] = 255
                    episode.append(camera, frame, ts)
            episode.set_static("task", TASKS[scene % len(TASKS)])
            episode.set_static("simulation.seed", scene)
            episode.set_static("inference.policy.type", "remote")
            episode.set_static("inference.policy.host", "127.0.0.1")
            episode.set_static("inference.policy.server.type", "lerobot_act")
            episode.set_static("inference.policy.server.checkpoint_id", checkpoint)
            if record_verdict:
                episode.set_static("eval.auto_success", success)
        paths.append(episode.path)
    return paths
