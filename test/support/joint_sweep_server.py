"""A protocol v1 server whose one model moves the arm: every chunk steps joint 1 on from the observed joints, a tick
apart, as a real model's joint-position chunks would. For ROS tests of a live arm's path, where the scripted expert
(it needs the simulator's cube poses) cannot run and `hold_pose` would leave the arm where it is.

    python test/support/joint_sweep_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "positronic_core"))

from positronic_core.robot.commands import Action, JointPosition  # noqa: E402
from positronic_core.serve.server import PolicyServer, ServerConfig  # noqa: E402

FPS = 15.0
CHUNK = 10
#: Radians joint 1 moves per action: 0.3 rad/s at 15 Hz, inside the FR3 safety config's velocity limit.
STEP = 0.02


class JointSweepModel:
    meta: dict[str, Any] = {"type": "joint_sweep", "codec": "joints", "action_fps": FPS, "chunk_size": CHUNK}
    max_batch_size = 1
    blocking = False

    def infer_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        return [self._chunk(np.asarray(obs["robot_state.q"], dtype=np.float64)) for obs in observations]

    def _chunk(self, q: np.ndarray) -> list[Action]:
        chunk = []
        for i in range(CHUNK):
            target = q.copy()
            target[0] += STEP * (i + 1)
            chunk.append(Action(JointPosition(target), 0.0, i / FPS))
        return chunk

    def close(self) -> None:
        pass


class JointSweepSource:
    def list_models(self) -> list[str]:
        return ["sweep"]

    def resolve(self, model_id: str | None) -> str:
        return "sweep"

    def load(self, model_id: str, progress: Callable[[str], None]) -> JointSweepModel:
        return JointSweepModel()


async def _serve(port: int) -> None:
    server = PolicyServer(JointSweepSource(), ServerConfig(port=port))
    await server.start()
    print(f"joint sweep server on port {server.port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(_serve(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
