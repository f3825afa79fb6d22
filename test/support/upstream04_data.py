"""Datasets recorded by upstream Positronic 0.4.1's own code, and 0.4.1's readers run on any dataset, for the
dataset interop tests.

`record_upstream04_datasets(root)` writes two datasets under `root`:

- `sim/`: one episode of 0.4.1's `positronic-inference sim --policy=.remote` against our hold_pose server
  (v2 signal files on several timelines, three cameras, URDF, meshes and scene XML statics, `robot_command.pose`,
  `eval.instruction`, `robot_state.status`, `sim_state.*`);
- `console/`: episodes written with 0.4.1's `LocalDatasetWriter` the way its operator console records them
  (`eval.outcome` verdicts, item counts, the `progress.state` ladder; commands in pairs sharing a world time,
  `console_command_z` gives what a reader sees at each), plus edit logs: 0.4.1's own `EditedDataset`
  appends to episode logs, and a dataset-root log (which 0.4.1 reads but never writes) is written as its format
  documents. `CONSOLE` describes each episode and `CONSOLE_VISIBLE` what a reader applying the logs sees.

`run_upstream04(script, *args)` runs a script on the 0.4.1 interpreter; the scripts below read a dataset with
0.4.1's `load_all_datasets` (edit logs applied) and convert one with its LeRobot training codec.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from upstream04 import UPSTREAM04_PYTHON, run_upstream04_sim

from positronic_core.serve.backends.hold_pose import HoldPoseSource
from positronic_core.serve.server import ServerConfig, running_server

SIM_SECONDS = 1.0

# Per console episode: the verdict recorded with it, items, ladder codes marked.
CONSOLE = [
    {"outcome": "Safety", "items": None, "progress": ["floating", "reaching", "contact", "reaching"]},
    {"outcome": "Success", "items": [2, 3], "progress": ["reaching", "at-target"]},
    {"outcome": "Discarded", "items": None, "progress": []},
    {"outcome": "Fail", "items": None, "progress": ["floating"]},  # dropped by the root log
    {"outcome": "Fail", "items": None, "progress": []},  # root drops + sets System, its own log undrops + Success
]
def console_command_z(tick: int) -> float:
    """The z a reader sees for the command pair of tick 1, 4, 7 or 10: the later of the two."""
    return 0.3 + 0.01 * tick + 0.002


# What a reader applying the logs sees: episode index -> eval.outcome.
CONSOLE_VISIBLE = {0: "Safety", 1: "Success", 2: "Discarded", 4: "Success"}

CONSOLE_WRITE = r"""
import json, sys
from pathlib import Path
import numpy as np
from pimm.time import Time
from positronic.dataset.local_dataset import LocalDatasetWriter, LocalDataset
from positronic.dataset.edits import EditedDataset

root = Path(sys.argv[1])
plan = json.loads(sys.argv[2])
writer = LocalDatasetWriter(root)
uids = []
for k, spec in enumerate(plan):
    with writer.new_episode() as ep:
        for i in range(12):
            world = 2_000_000 + i * 66_000_000
            t = Time(**{'harness.world': world, 'harness.wall': 10**13 + world + 1234})
            ep.append('robot_state.q', np.linspace(0, 1, 7) + i, t)
            ep.append('robot_state.ee_pose', np.array([0.4, 0.0, 0.3 + 0.01 * i, 1.0, 0.0, 0.0, 0.0]), t)
            ep.append('grip', 0.1 * k, t)
            ep.append('image.wrist', np.full((32, 48, 3), 20 * i, np.uint8), t)
            if i % 3 == 1:
                # Two commands in one world tick, told apart by the wall clock (0.4.1 allows ties on a timeline).
                for j in (1, 2):
                    tick = Time(**{'harness.world': world, 'harness.wall': 10**13 + world + 1234 + j})
                    ep.append('robot_command.pose', np.array([0.4, 0.0, 0.3 + 0.01 * i + 0.001 * j, 1, 0, 0, 0.0]),
                              tick)
                ep.append('target_grip', 0.5, t)
            if i < len(spec['progress']):
                ep.append('progress.state', spec['progress'][i], t)
        ep.set_static('task', f'console task {k}')
        ep.set_static('eval.outcome', spec['outcome'])
        if spec['items']:
            ep.set_static('eval.successful_items', spec['items'][0])
            ep.set_static('eval.total_items', spec['items'][1])
        ep.set_static('inference.policy.type', 'remote')
        ep.set_static('inference.policy.server.checkpoint_id', f'ckpt-{k % 2}')
        uids.append(ep.meta['uid'])
edited = EditedDataset(LocalDataset(root), (root,))
edited.undrop(uids[4]).set_static(uids[4], {'eval.outcome': 'Success'})
with (root / 'edits.jsonl').open('a') as log:
    for record in ({'op': 'drop', 'v': 1, 'ep': uids[3]}, {'op': 'drop', 'v': 1, 'ep': uids[4]},
                   {'op': 'set_static', 'v': 1, 'ep': uids[4], 'data': {'eval.outcome': 'System'}}):
        log.write(json.dumps(record) + '\n')
print(json.dumps({'uids': uids}))
"""

# Every episode 0.4.1's `load_all_datasets` shows under argv[1], with the statics a verdict lives in.
READ_ALL = r"""
import json, sys
from pathlib import Path
from positronic.dataset.local_dataset import load_all_datasets

keys = ('eval.outcome', 'eval.successful_items', 'eval.total_items', 'review.outcome', 'task')
out = []
for ep in load_all_datasets(Path(sys.argv[1])):
    static = ep.static
    out.append({'uid': ep.meta['uid'], 'path': ep.meta['path'], 'static': {k: static[k] for k in keys if k in static},
                'signals': sorted(ep.signals), 'timelines': list(ep.timelines)})
print(json.dumps(out))
"""

# 0.4.1's own edit API on the dataset at argv[1]: argv[2] is a JSON list of [op, uid, data or null].
EDIT = r"""
import json, sys
from pathlib import Path
from positronic.dataset.local_dataset import load_dataset

edited = load_dataset(Path(sys.argv[1]))
for op, uid, data in json.loads(sys.argv[2]):
    edited = edited.set_static(uid, data) if op == 'set_static' else getattr(edited, op)(uid)
print(json.dumps({'episodes': len(edited)}))
"""

# 0.4.1's LeRobot EE codec (`positronic.vendors.lerobot.codecs.ee`, images shrunk) applied to the first episode of
# argv[1] and sampled at 15 Hz on the recording's timeline, the way `positronic-to-lerobot convert` does.
TRAINING_FRAMES = r"""
import json, sys
from pathlib import Path
import numpy as np
from pimm.time import Time
from eval_vocabulary.timeline import recording_timeline
from positronic.dataset.local_dataset import load_dataset
from positronic.dataset.transforms import TransformedDataset
from positronic.vendors.lerobot import codecs as lerobot_codecs

codec = lerobot_codecs.ee.override(**{'obs.image_size': (32, 32)}).instantiate()
episode = TransformedDataset(load_dataset(Path(sys.argv[1])), codec.training_encoder)[0]
timeline = recording_timeline(episode.timelines)
start, finish = episode.bounds(timeline)
times = [Time(**{timeline: int(t)}) for t in np.arange(start, finish, 1e9 / 15, dtype=np.int64)]
frames = episode.time[times]
print(json.dumps({'timeline': timeline, 'keys': sorted(frames), 'start': int(start),
                  'action': np.asarray(frames['action'], dtype=float).tolist(),
                  'state': np.asarray(frames['observation.state'], dtype=float).tolist(),
                  'image_shape': list(np.asarray(frames['observation.images.left'][0]).shape)}))
"""


def run_upstream04(script: str, *args: str, timeout: float = 180) -> Any:
    """Run `script` on 0.4.1's interpreter and return the JSON it printed last."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(UPSTREAM04_PYTHON), "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout, cwd="/", env=env)
    if done.returncode != 0:
        raise RuntimeError(f"0.4.1 script failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"0.4.1 script printed nothing; stderr:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def record_upstream04_datasets(root: Path) -> dict[str, Any]:
    """Write `sim/` and `console/` under `root` with 0.4.1's code (module docstring); returns the console uids."""
    sim = root / "sim"
    sim.mkdir(parents=True)
    with running_server(HoldPoseSource(chunk_size=4, action_fps=15.0), ServerConfig(port=0)) as server:
        done = run_upstream04_sim("127.0.0.1", server.port, sim, sim_seconds=SIM_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"0.4.1's sim run failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return run_upstream04(CONSOLE_WRITE, str(root / "console"), json.dumps(CONSOLE))
