"""Episodes recorded, finished or copied in while the review server runs join its table without a restart."""

from __future__ import annotations

import time
from pathlib import Path

from synthetic_dataset import write_synthetic_dataset

from positronic_core.dataset import DatasetWriter
from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer

WAIT_S = 30.0  # a bound, not a timing claim: the watch polls every second


def wait_for_total(client, expected: int, query: str = "") -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        status, table = client.get(f"/api/episodes?page_size=100{query}")
        assert status == 200
        if table["total"] == expected or time.monotonic() > deadline:
            return table
        time.sleep(0.1)


def test_new_and_finished_episodes_and_new_datasets_appear(dataset: Path, make_client) -> None:
    recording = DatasetWriter(dataset / "main").new_episode()  # started before the server, finished after
    recording.append("grip", 0.0, 0)
    index = EpisodeIndex(dataset)
    index.start()
    assert index.wait(60)
    server = ReviewServer(index, port=0).start()
    try:
        client = make_client(server.port)
        assert client.get("/api/episodes?page_size=100")[1]["total"] == 10  # the unfinished one is not listed

        write_synthetic_dataset(dataset / "main", 1, ticks=10, seed=9)
        table = wait_for_total(client, 11)
        assert table["total"] == 11
        assert dataset.joinpath("main", "000000000000", "000000000007").is_dir()
        assert "main/000000000000/000000000007" in [r["ref"] for r in table["rows"]]

        recording.append("grip", 1.0, 10**9)
        recording.finish()
        table = wait_for_total(client, 12)
        assert "main/000000000000/000000000006" in [r["ref"] for r in table["rows"]]

        write_synthetic_dataset(dataset / "later" / "run3", 2, ticks=10, seed=10)
        table = wait_for_total(client, 2, "&f.dataset=%3Dlater/run3")
        assert table["total"] == 2
        status = client.get("/api/status")[1]
        assert "later/run3" in status["datasets"] and status["indexed"] == 14
        ref = table["rows"][0]["ref"]
        assert client.get(f"/api/episode?ep={ref}")[0] == 200
        status, saved = client.post("/api/score", {"ep": ref, "outcome": "partial"})
        assert status == 200 and saved["row"]["outcome"] == "partial"
    finally:
        server.stop()
        index.close()
