"""Datasets both ways with upstream Positronic 0.4.1 (its own code, in its venv; see test/support/upstream04_data.py):
our reader, review server and reports read what 0.4.1 records, with its edit logs applied in its order; scores
cross over both ways; and 0.4.1 (and 0.2.1) open our recordings and turn them into training frames with their own
LeRobot codec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow.parquet as pq
import pytest
from synthetic_dataset import write_synthetic_dataset
from upstream04 import upstream04_missing_reason
from upstream04_data import (
    CONSOLE_VISIBLE,
    EDIT,
    READ_ALL,
    TRAINING_FRAMES,
    console_command_z,
    record_upstream04_datasets,
    run_upstream04,
)
from upstream_peer import SKIP_REASON, run_upstream, upstream_python

from positronic_core.dataset import Dataset
from positronic_core.dataset.timeline import TIMELINE_ORDER
from positronic_core.evaluate.cli import main as eval_main
from positronic_core.evaluate.report import load_runs, summarize
from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer

pytestmark = pytest.mark.skipif(upstream04_missing_reason() is not None, reason=str(upstream04_missing_reason()))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("upstream04")
    return root, record_upstream04_datasets(root)["uids"]


@pytest.fixture
def served(recorded, tmp_path: Path, make_client):
    source, uids = recorded
    root = tmp_path / "served"
    shutil.copytree(source, root)
    index = EpisodeIndex(root).build()
    server = ReviewServer(index, port=0).start()
    try:
        yield root, uids, index, make_client(server.port)
    finally:
        server.stop()


def _rows_by_uid(client: Any) -> dict[str, dict[str, Any]]:
    status, table = client.get("/api/episodes?page_size=100")
    assert status == 200
    return {row["uid"]: row for row in table["rows"]}


def test_reader_reads_a_0_4_1_sim_episode_on_the_harness_world_timeline(recorded) -> None:
    root, _ = recorded
    (episode,) = Dataset(root / "sim")
    assert TIMELINE_ORDER[0] == "harness.world"
    names = set(episode.signal_names)
    assert {"robot_command.pose", "eval.instruction", "robot_state.status", "robot_state.q", "grip",
            "image.wrist", "image.exterior", "image.agent_view"} <= names
    assert any(name.startswith("sim_state.") for name in names)
    firsts, lasts = [], []
    for name in episode.signal_names:
        signal = episode.signal(name)
        index_file = signal.frames_path if name in episode.video_names else signal.path
        table = pq.read_table(index_file)
        assert b"positronic.signal_version" in table.schema.metadata and "timestamp" not in table.column_names
        expected = table.column("ts.harness.world").to_numpy()
        assert signal.timestamps.tolist() == expected.tolist(), name
        firsts.append(int(expected[0]))
        lasts.append(int(expected[-1]))
    # meta.json has no duration_ns; it is derived the way 0.2.x defined it.
    assert "duration_ns" not in episode.meta and "video_encoder" in episode.meta["writer"]
    assert episode.duration_ns == max(lasts) - max(firsts) > 0
    wrist = episode.signal("image.wrist")
    assert wrist.frame(len(wrist) - 1).ndim == 3
    assert episode.signal("robot_command.pose").values.shape[1] == 7
    assert episode.signal("robot_state.status").values.dtype.kind == "i"
    static = episode.static
    assert episode.signal("eval.instruction").value(0) == static["task"]
    assert static["urdf"].startswith("<robot") and static["meshes"]
    assert all(isinstance(blob, bytes) for blob in static["meshes"].values())
    assert static["eval.terminated"] is False


def test_table_page_and_report_show_0_4_1_verdicts_progress_and_edits(served, recorded, capsys) -> None:
    root, uids, index, client = served
    rows = _rows_by_uid(client)
    # Exactly the episodes 0.4.1's own reader shows, its edit logs applied in its order.
    upstream = {entry["uid"]: entry["static"] for entry in run_upstream04(READ_ALL, str(root))}
    assert set(rows) == set(upstream)
    assert {uids[k] for k in CONSOLE_VISIBLE} <= set(rows) and uids[3] not in rows
    assert index.status()["dropped"] == 1
    for k, verdict in CONSOLE_VISIBLE.items():
        assert upstream[uids[k]]["eval.outcome"] == verdict
    safety, items, discarded, undropped = (rows[uids[k]] for k in (0, 1, 2, 4))
    assert (safety["outcome"], safety["failure_mode"], safety["progress"]) == ("failure", "Safety", "contact")
    assert (items["outcome"], items["score_text"], items["progress"]) == ("partial", "0.67", "at-target")
    assert (items["items_successful"], items["items_total"]) == (2, 3)
    assert discarded["outcome"] == "" and discarded["score"] is None
    # The episode's own log (undrop, Success) applies after the dataset root's (drop, System).
    assert (undropped["outcome"], undropped["outcome_source"]) == ("success", "eval.outcome")
    (sim,) = [row for row in rows.values() if row["dataset"] == "sim"]
    assert (sim["outcome"], sim["failure_mode"], sim["model"]) == ("failure", "Ran out of time", "hold_pose")

    status, page = client.get(f"/api/episode?ep={quote(sim['ref'], safe='')}")
    assert status == 200
    static = page["static"]
    assert static["urdf"].startswith("<XML text, ") and static["scene_xml"].startswith("<XML text, ")
    assert all(value.endswith(" bytes>") for value in static["meshes"].values())
    assert len(json.dumps(page)) < 100_000  # static.json is 300 KB; none of its blobs is shipped
    assert {"image.wrist", "image.exterior", "image.agent_view"} == set(page["videos"][i]["name"] for i in range(3))
    status, signals = client.get(f"/api/signals?ep={quote(sim['ref'], safe='')}"
                                 "&names=robot_command.pose,eval.instruction,robot_state.status")
    assert status == 200 and signals["signals"]["eval.instruction"]["text"] == [sim["task"]]
    assert len(signals["signals"]["robot_command.pose"]["v"][0]) == 7

    # Commands sharing a world time read as the later one, and a clip keeps just that one.
    commands = Dataset(root / "console").episode(0).signal("robot_command.pose")
    world = 2_000_000 + 66_000_000 * np.array([1, 4, 7, 10])
    assert commands.timestamps.tolist() == np.repeat(world, 2).tolist()
    assert [commands.at(t)[2] for t in world] == pytest.approx([console_command_z(k) for k in (1, 4, 7, 10)])
    status, clip = client.post("/api/export", {"ep": safety["ref"], "start_s": 0.0, "end_s": 0.7,
                                               "new_dataset": "clips"})
    assert status == 200, clip
    clipped = Dataset(root / "clips").episode(clip["row"]["episode_id"]).signal("robot_command.pose")
    assert clipped.timestamps.tolist() == world.tolist()
    assert clipped.values[:, 2] == pytest.approx([console_command_z(k) for k in (1, 4, 7, 10)])

    runs = load_runs(root)
    assert (len(runs.rows), runs.dropped, runs.unreadable) == (5, 1, [])
    (console,) = [s for s in summarize(runs.rows, ["dataset"]) if s.group["dataset"] == "console"]
    assert (console.runs, console.scored, console.successes, console.partials, console.failures) == (4, 3, 1, 1, 1)
    assert eval_main(["report", str(root), "--by", "dataset"]) == 0
    assert "(1 clip, 1 episode dropped by edit logs left out)" in capsys.readouterr().out


def test_scores_cross_over_to_0_4_1_and_back(served) -> None:
    root, uids, _, client = served
    rows = _rows_by_uid(client)
    (sim,) = [row for row in rows.values() if row["dataset"] == "sim"]
    status, saved = client.post("/api/score", {"ep": sim["ref"], "outcome": "partial", "notes": "half way"})
    assert status == 200 and saved["shared"] and saved["row"]["outcome"] == "partial"
    status, saved = client.post("/api/score", {"ep": rows[uids[0]]["ref"], "outcome": "failure",
                                               "failure_mode": "system", "items_successful": 1, "items_total": 4})
    assert status == 200 and (saved["row"]["outcome"], saved["row"]["score_text"]) == ("failure", "0.25")
    status, saved = client.post("/api/score", {"ep": rows[uids[1]]["ref"], "outcome": "success"})
    assert status == 200

    # 0.4.1's reader sees our scores as its verdicts, with the credit in the item counts.
    upstream = {entry["uid"]: entry["static"] for entry in run_upstream04(READ_ALL, str(root))}
    assert {k: upstream[sim["uid"]].get(k) for k in ("eval.outcome", "eval.successful_items", "eval.total_items",
                                                    "review.outcome")} == {
        "eval.outcome": "Fail", "eval.successful_items": 1, "eval.total_items": 2, "review.outcome": "partial"}
    assert (upstream[uids[0]]["eval.outcome"], upstream[uids[0]]["eval.successful_items"],
            upstream[uids[0]]["eval.total_items"]) == ("System", 1, 4)
    assert (upstream[uids[1]]["eval.outcome"], upstream[uids[1]]["eval.successful_items"],
            upstream[uids[1]]["eval.total_items"]) == ("Success", 1, 1)

    # 0.4.1's operator tools, after our scores: a new verdict and a drop, through its own edit API.
    run_upstream04(EDIT, str(root / "console"), json.dumps([["set_static", uids[0], {"eval.outcome": "Safety"}],
                                                            ["drop", uids[1], None]]))
    rows = _rows_by_uid(client)
    assert uids[1] not in rows
    # 0.4.1's later verdict wins over our score; our item counts stay merged under it (set_static merges keys).
    assert (rows[uids[0]]["outcome"], rows[uids[0]]["failure_mode"], rows[uids[0]]["outcome_source"]) == (
        "partial", "Safety", "eval.outcome")
    runs = load_runs(root)
    assert runs.dropped == 2 and uids[1] not in {row["uid"] for row in runs.rows}

    # Scoring again puts ours last; clearing a score gives 0.4.1 back what was recorded.
    status, saved = client.post("/api/score", {"ep": rows[uids[0]]["ref"], "outcome": "success"})
    assert saved["row"]["outcome_source"] == "manual"
    status, saved = client.post("/api/score", {"ep": sim["ref"], "outcome": None})
    assert (saved["row"]["outcome"], saved["row"]["failure_mode"]) == ("failure", "Ran out of time")
    upstream = {entry["uid"]: entry["static"] for entry in run_upstream04(READ_ALL, str(root))}
    assert upstream[uids[0]]["eval.outcome"] == "Success"
    assert upstream[sim["uid"]]["eval.outcome"] == "UNSCORED"


UPSTREAM021_TRAINING_FRAMES = r"""
import json, sys
from pathlib import Path
import numpy as np
from positronic.dataset.local_dataset import LocalDataset
from positronic.dataset.transforms import TransformedDataset
from positronic.vendors.lerobot import codecs as lerobot_codecs

codec = lerobot_codecs.ee.override(**{'obs.image_size': (32, 32)}).instantiate()
episode = TransformedDataset(LocalDataset(Path(sys.argv[1])), codec.training_encoder)[0]
frames = episode.time[np.arange(episode.start_ts, episode.last_ts, 1e9 / 15, dtype=np.int64)]
print(json.dumps({'start': int(episode.start_ts), 'action': np.asarray(frames['action'], dtype=float).tolist()}))
"""


def test_our_recordings_train_with_the_lerobot_codecs_of_0_4_1_and_0_2_1(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, 1, ticks=20, cameras=("image.wrist", "image.exterior"))
    (ours,) = Dataset(tmp_path)
    commands, grip = ours.signal("robot_commands.pose"), ours.signal("target_grip")

    def expected_actions(start: int, count: int) -> np.ndarray:
        times = start + np.arange(count) * int(1e9 / 15)
        return np.array([[*commands.at(t), grip.at(t)] for t in times])

    (seen,) = run_upstream04(READ_ALL, str(tmp_path))
    assert seen["timelines"] == ["recorded"]
    assert {"robot_command.pose", "robot_commands.pose"} <= set(seen["signals"])
    frames = run_upstream04(TRAINING_FRAMES, str(tmp_path))
    assert frames["timeline"] == "recorded" and frames["image_shape"] == [32, 32, 3]
    assert {"action", "observation.state", "observation.images.left", "observation.images.side"} <= set(frames["keys"])
    action = np.array(frames["action"])
    assert len(action) >= 19
    np.testing.assert_allclose(action, expected_actions(frames["start"], len(action)), atol=1e-6)

    if upstream_python() is None:
        pytest.skip(SKIP_REASON)
    old = run_upstream(UPSTREAM021_TRAINING_FRAMES, str(tmp_path))
    np.testing.assert_allclose(np.array(old["action"]), expected_actions(old["start"], len(old["action"])),
                               atol=1e-6)
