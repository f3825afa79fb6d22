"""Datasets written by upstream Positronic 0.2.1 (in its own venv) are indexed, served and clipped; upstream reads
the clips back."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from upstream_peer import SKIP_REASON, run_upstream, upstream_python

from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer

UPSTREAM_WRITE = """
import json, sys
from pathlib import Path
import numpy as np
from positronic.dataset.local_dataset import LocalDatasetWriter

writer = LocalDatasetWriter(Path(sys.argv[1]))
for k in range(3):
    with writer.new_episode() as ep:
        for i in range(30):
            ts = 10**9 + i * 50_000_000
            ep.append('image.wrist', np.full((48, 64, 3), 8 * i, np.uint8), ts)
            ep.append('robot_state.q', np.arange(7.0) + i, ts)
            ep.append('stacking_success', 1.0 if (k != 1 and i >= 15) else 0.2, ts)
        ep.set_static('task', f'upstream {k}')
        ep.set_static('inference.policy.type', 'act')
        ep.set_static('inference.policy.checkpoint_path', '/runs/x/checkpoints/0300%d0/pretrained_model' % k)
print(json.dumps({'ok': True}))
"""

UPSTREAM_READ = """
import json, sys
from pathlib import Path
from positronic.dataset.local_dataset import LocalDataset

ds = LocalDataset(Path(sys.argv[1]))
last = ds[len(ds) - 1]
print(json.dumps({'count': len(ds), 'static': {k: v for k, v in last.static.items() if isinstance(v, (str, int))},
                  'frames': len(last.signals['image.wrist']), 'q': len(last.signals['robot_state.q'])}))
"""


@pytest.fixture(scope="module")
def upstream_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if upstream_python() is None:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("upstream")
    run_upstream(UPSTREAM_WRITE, str(root / "up"))
    return root


def test_upstream_episodes_are_indexed_served_and_clipped(upstream_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "served"
    shutil.copytree(upstream_root, root)
    index = EpisodeIndex(root).build()
    rows = sorted(index.rows(), key=lambda r: r["episode_id"])
    assert [r["task"] for r in rows] == ["upstream 0", "upstream 1", "upstream 2"]
    assert [r["outcome"] for r in rows] == ["success", "failure", "success"]
    assert all(r["outcome_source"] == "stacking_success" for r in rows)
    assert [r["checkpoint"] for r in rows] == ["030000", "030010", "030020"]
    assert rows[0]["duration_s"] == pytest.approx(1.45)
    assert rows[0]["key"] == "000000000000/000000000000"  # no uid in upstream's meta: keyed by path
    server = ReviewServer(index, port=0).start()
    try:
        import http.client

        def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read())

        ref = rows[0]["ref"]
        status, info = call("GET", f"/api/episode?ep={quote(ref, safe='')}")
        assert status == 200
        video = info["videos"][0]
        # Upstream's encoder uses B-frames; media times must still follow frame order.
        assert video["media_times"] == sorted(video["media_times"]) and len(video["media_times"]) == 30
        status, saved = call("POST", "/api/score", {"ep": ref, "outcome": "failure", "failure_mode": "knocked over"})
        assert status == 200 and saved["key"] == "000000000000/000000000000"
        status, clip = call("POST", "/api/export", {"ep": ref, "start_s": 0.2, "end_s": 0.9, "dataset": "up"})
        assert status == 200, clip
    finally:
        server.stop()
    seen = run_upstream(UPSTREAM_READ, str(root / "up"))
    assert seen["count"] == 4
    assert seen["static"]["clip.source_path"] == ref and seen["static"]["task"] == "upstream 0"
    assert seen["frames"] == seen["q"] == 15
