"""Edit logs (`edits.jsonl`, upstream 0.4.x's corrections) appended while the review server runs: a dataset root's
log is picked up on the next table request, an episode's own log when its row is shown; clips carry edited
statics. Against 0.4.1's own reader and writer: test_upstream04_datasets.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

from positronic_core.dataset import Dataset
from positronic_core.dataset.edits import append_edit
from positronic_core.evaluate.report import load_runs


def _uid(root: Path, ref: str) -> str:
    return json.loads((root / ref / "meta.json").read_text())["uid"]


def test_edits_appended_while_serving_show_in_the_table_the_page_and_reports(served) -> None:
    _, client, root = served
    _, table = client.get("/api/episodes?f.dataset=%3Dmain&page_size=100")
    refs = [row["ref"] for row in table["rows"]]
    assert len(refs) == 6
    dropped, edited, own = refs[0], refs[1], refs[2]
    append_edit(root / "main", "drop", _uid(root, dropped))
    append_edit(root / "main", "set_static", _uid(root, edited), {"eval.outcome": "Safety", "task": "corrected"})
    append_edit(root / own, "set_static", _uid(root, own), {"eval.outcome": "Success", "eval.successful_items": 1,
                                                            "eval.total_items": 2})
    time.sleep(0.6)  # the table looks at the logs at most twice a second
    _, table = client.get("/api/episodes?f.dataset=%3Dmain&page_size=100")
    rows = {row["ref"]: row for row in table["rows"]}
    assert dropped not in rows and len(rows) == 5 and table["status"]["dropped"] == 0  # counted at indexing only
    assert (rows[edited]["outcome"], rows[edited]["failure_mode"]) == ("failure", "Safety")
    assert (rows[own]["outcome"], rows[own]["score_text"]) == ("partial", "0.50")
    status, page = client.get(f"/api/episode?ep={quote(edited, safe='')}")
    assert status == 200 and page["static"]["eval.outcome"] == "Safety" and page["row"]["dropped"] is False
    status, page = client.get(f"/api/episode?ep={quote(dropped, safe='')}")
    assert status == 200 and page["row"]["dropped"] is True  # still answers for a reviewer who has it open

    # A clip carries the statics as edited.
    status, clip = client.post("/api/export", {"ep": edited, "start_s": 0.2, "end_s": 0.8, "new_dataset": "clips"})
    assert status == 200 and Dataset(root / "clips").episode(clip["row"]["episode_id"]).static["task"] == "corrected"

    runs = load_runs(root)
    assert runs.dropped == 1 and dropped not in {row["ref"] for row in runs.rows}
