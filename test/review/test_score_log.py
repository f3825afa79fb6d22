"""The score log: validation, latest-wins, restarts, torn lines and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from positronic_core.runs.score_log import SCORE_FILE, Score, ScoreError, ScoreLog, parse_score


@pytest.mark.parametrize("body, fragment", [
    ([], "JSON object"),
    ({}, "missing field 'outcome'"),
    ({"outcome": "great"}, "outcome must be one of"),
    ({"outcome": "success", "extra": 1}, "unknown score field"),
    ({"outcome": "partial", "items_successful": 2}, "both items_successful and items_total"),
    ({"outcome": "partial", "items_successful": 3, "items_total": 2}, "exceeds"),
    ({"outcome": "partial", "items_successful": 0, "items_total": 0}, "at least 1"),
    ({"outcome": "partial", "items_successful": 1.5, "items_total": 2}, "whole number"),
    ({"outcome": "partial", "items_successful": True, "items_total": 2}, "whole number"),
    ({"outcome": "partial", "items_successful": -1, "items_total": 2}, "between 0"),
    ({"outcome": "failure", "failure_mode": 7}, "must be a string"),
    ({"outcome": "failure", "failure_mode": "a\nb"}, "control character"),
    ({"outcome": "failure", "failure_mode": "x" * 201}, "at most 200"),
    ({"outcome": "failure", "notes": "x" * 10_001}, "at most 10000"),
    ({"outcome": "failure", "notes": "bell\x07"}, "control character"),
])
def test_bad_scores_are_refused_with_a_reason(body, fragment: str) -> None:
    with pytest.raises(ScoreError, match=fragment):
        parse_score(body)


def test_good_score_round_trips(tmp_path: Path) -> None:
    score = parse_score({"outcome": "partial", "items_successful": 2, "items_total": 3,
                         "failure_mode": " dropped cube ", "notes": "line one\nline two\tindented"})
    assert score.failure_mode == "dropped cube"
    log = ScoreLog(tmp_path)
    stored = log.append("ep-1", score)
    assert stored.ts_ns > 0
    assert log.latest("ep-1") == stored
    assert ScoreLog(tmp_path).latest("ep-1") is None  # a new instance reads on refresh...
    reopened = ScoreLog(tmp_path)
    reopened.refresh()
    assert reopened.latest("ep-1") == stored  # ...and then sees the same score (survives restarts)


def test_latest_entry_wins_and_null_clears(tmp_path: Path) -> None:
    log = ScoreLog(tmp_path)
    log.append("a", Score("failure", failure_mode="stall"))
    log.append("b", Score("success"))
    log.append("a", Score("success", notes="re-judged"))
    assert log.latest("a").outcome == "success" and log.latest("a").notes == "re-judged"
    log.append("b", Score(None))
    assert log.latest("b").outcome is None
    assert [s.outcome for s in log.history("a")] == ["failure", "success"]
    lines = (tmp_path / SCORE_FILE).read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["v"] == 1 for line in lines)


def test_another_writer_is_picked_up_by_refresh(tmp_path: Path) -> None:
    reader, writer = ScoreLog(tmp_path), ScoreLog(tmp_path)
    reader.refresh()
    writer.append("x", Score("partial"))
    assert reader.refresh() == {"x"}
    assert reader.latest("x").outcome == "partial"
    assert reader.refresh() == set()


def test_a_torn_line_is_skipped_and_the_next_record_starts_fresh(tmp_path: Path) -> None:
    log = ScoreLog(tmp_path)
    log.append("a", Score("success"))
    with open(tmp_path / SCORE_FILE, "ab") as handle:
        handle.write(b'{"v": 1, "ep": "b", "outco')  # a writer died mid-line
    log.append("c", Score("failure"))
    fresh = ScoreLog(tmp_path)
    fresh.refresh()
    assert fresh.latest("a").outcome == "success"
    assert fresh.latest("c").outcome == "failure"
    assert fresh.latest("b") is None
    assert fresh.skipped_lines == 1


def test_lines_that_are_not_scores_are_skipped(tmp_path: Path) -> None:
    (tmp_path / SCORE_FILE).write_text('not json\n[1, 2]\n{"ep": "a", "outcome": "bogus"}\n'
                                       '{"v": 1, "ep": "a", "outcome": "success", "ts_ns": 5}\n')
    log = ScoreLog(tmp_path)
    log.refresh()
    assert log.latest("a") == Score("success", ts_ns=5)
    assert log.skipped_lines == 3


def _write_many(root: str, worker: int, count: int) -> None:
    log = ScoreLog(Path(root))
    for i in range(count):
        log.append(f"w{worker}-{i}", Score("partial", i % 5, 5, f"mode {worker}", "n" * (i * 37 % 3000)))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    processes, threads, per_writer = 3, 3, 40
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(tmp_path), w, per_writer)) for w in range(processes)]
    workers += [threading.Thread(target=_write_many, args=(str(tmp_path), processes + w, per_writer))
                for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    lines = (tmp_path / SCORE_FILE).read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == (processes + threads) * per_writer
    log = ScoreLog(tmp_path)
    log.refresh()
    assert log.skipped_lines == 0
    assert len(log.all_latest()) == (processes + threads) * per_writer
