"""The review server's HTTP API: table queries, episode data, video ranges, scoring, clip export, and bad input."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import quote

import pytest

from positronic_core.dataset import Dataset
from positronic_core.evaluate import report
from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import MAX_BODY_BYTES, ReviewServer
from positronic_core.runs.score_log import SCORE_FILE


def first_ref(client, dataset: str = "main") -> str:
    status, table = client.get(f"/api/episodes?f.dataset=%3D{dataset}&page_size=1")
    assert status == 200 and table["rows"], table
    return table["rows"][0]["ref"]


def q(value: str) -> str:
    return quote(value, safe="")


# --- table ------------------------------------------------------------------------------------------------------

def test_status_lists_both_datasets(served) -> None:
    _, client, _ = served
    status, body = client.get("/api/status")
    assert status == 200
    assert body["loading"] is False and body["indexed"] == body["found"] == 10
    assert sorted(body["datasets"]) == ["main", "nested/run2"]


def test_sort_filter_and_page_are_server_side(served) -> None:
    _, client, _ = served
    _, everything = client.get("/api/episodes?page_size=100")
    assert everything["total"] == 10 and len(everything["rows"]) == 10
    durations = [r["duration_s"] for r in everything["rows"]]
    _, by_duration = client.get("/api/episodes?sort=duration_s&desc=1&page_size=100")
    assert [r["duration_s"] for r in by_duration["rows"]] == sorted(durations, reverse=True)
    _, checkpoint = client.get("/api/episodes?f.checkpoint=%3D10000&page_size=100")
    assert checkpoint["total"] == 5 and all(r["checkpoint"] == "10000" for r in checkpoint["rows"])
    threshold = sorted(durations)[4]
    _, longer = client.get(f"/api/episodes?f.duration_s=%3E{threshold}&page_size=100")
    assert longer["total"] == sum(d > threshold for d in durations)
    _, ranged = client.get("/api/episodes?f.seed=1..2&page_size=100")
    assert ranged["total"] == sum(1 for r in everything["rows"] if r["seed"] in (1, 2))
    _, excluded = client.get("/api/episodes?f.dataset=%21nested&page_size=100")
    assert excluded["total"] == 6
    _, page = client.get("/api/episodes?page_size=3&page=3")
    assert page["pages"] == 4 and len(page["rows"]) == 1 and page["rows"][0]["index"] == 9
    _, columns = client.get("/api/episodes?page_size=1")
    assert [c["key"] for c in columns["columns"]][:3] == ["index", "dataset", "episode_id"]


def test_outcomes_without_recorded_verdict_come_from_the_stacking_signal(served) -> None:
    _, client, _ = served
    _, nested = client.get("/api/episodes?f.dataset=nested&page_size=100")
    assert nested["total"] == 4
    assert all(r["outcome_source"] == "stacking_success" and r["outcome"] in ("success", "failure")
               for r in nested["rows"])


@pytest.mark.parametrize("query, fragment", [
    ("sort=nope", "unknown sort column"),
    ("f.nope=1", "unknown filter column"),
    ("page=-1", "page must be"),
    ("page_size=0", "page_size must be"),
    ("page_size=100000", "page_size must be"),
    ("page=abc", "whole numbers"),
    ("desc=maybe", "desc must be"),
    (f"f.task={'x' * 300}", "at most 200"),
])
def test_bad_table_queries_are_400(served, query: str, fragment: str) -> None:
    _, client, _ = served
    status, body = client.get(f"/api/episodes?{query}")
    assert status == 400 and fragment in body["error"]


# --- one episode ------------------------------------------------------------------------------------------------

def test_episode_detail_signals_and_neighbours(served) -> None:
    _, client, _ = served
    ref = first_ref(client)
    status, info = client.get(f"/api/episode?ep={q(ref)}&sort=index")
    assert status == 200
    assert [v["name"] for v in info["videos"]] == ["image.exterior", "image.wrist"]
    video = info["videos"][0]
    assert len(video["frame_times"]) == len(video["media_times"]) >= 24
    # Videos play at their recorded rate (15 Hz here), so media time runs with recording time.
    assert video["frame_times"][0] == 0.0 and video["media_times"][1] == pytest.approx(1 / 15, abs=1e-6)
    titles = [p["title"] for p in info["panels"]]
    assert any(t.startswith("Joint positions") for t in titles) and any(t.startswith("Stacking") for t in titles)
    assert info["timeline"] == ["inference.latency_ms", "inference.chunk_size"]
    assert info["neighbours"]["prev"] is None and info["neighbours"]["next"] is not None
    assert info["static"]["inference.policy.server.checkpoint_id"] in ("10000", "20000")
    status, data = client.get(f"/api/signals?ep={q(ref)}&names=robot_state.q,grip,inference.latency_ms")
    assert status == 200
    q_signal = data["signals"]["robot_state.q"]
    assert len(q_signal["t"]) == len(q_signal["v"]) and len(q_signal["v"][0]) == 7
    assert data["signals"]["grip"]["t"][0] == 0.0
    status, body = client.get(f"/api/signals?ep={q(ref)}&names=nope")
    assert status == 404 and "no signal" in body["error"]
    status, body = client.get(f"/api/signals?ep={q(ref)}&names=image.wrist")
    assert status == 400 and "video" in body["error"]


def test_video_is_served_with_ranges(served) -> None:
    _, client, root = served
    ref = first_ref(client)
    path = f"/api/video?ep={q(ref)}&cam=image.wrist"
    data = (root / ref / "image.wrist.mp4").read_bytes()
    status, headers, body = client.request("GET", path)
    assert status == 200 and body == data and headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "video/mp4"
    status, headers, body = client.request("GET", path, headers={"Range": "bytes=10-109"})
    assert status == 206 and body == data[10:110] and headers["content-range"] == f"bytes 10-109/{len(data)}"
    status, _, body = client.request("GET", path, headers={"Range": "bytes=100-"})
    assert status == 206 and body == data[100:]
    status, _, body = client.request("GET", path, headers={"Range": "bytes=-50"})
    assert status == 206 and body == data[-50:]
    status, headers, _ = client.request("GET", path, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    status, _, body = client.request("GET", path, headers={"Range": "bytes=0-1,5-9"})
    assert status == 200 and body == data  # several ranges: the whole file, as the RFC allows
    status, headers, body = client.request("HEAD", path)
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(data)
    status, headers, body = client.request("GET", f"/api/frame?ep={q(ref)}&cam=image.wrist&i=3")
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"


def test_pages_and_assets(served) -> None:
    _, client, _ = served
    ref = first_ref(client)
    for path in ("/", f"/episode/{ref}", "/static/app.css", "/static/episode.js", "/static/plot.js",
                 "/static/table.js", "/static/common.js", "/favicon.ico"):
        status, headers, body = client.request("GET", path)
        assert status == 200, path
        assert "default-src 'self'" in headers["content-security-policy"]
    _, _, page = client.request("GET", f"/episode/{ref}")
    assert b"/static/episode.js" in page and b"http" not in page.split(b"<body>")[0].replace(b"http-equiv", b"")


# --- scoring ----------------------------------------------------------------------------------------------------

def test_score_shows_at_once_survives_restart_and_touches_only_the_logs(served, snapshot, make_client) -> None:
    server, client, root = served
    ref = first_ref(client)
    before = snapshot(root.parent)
    status, saved = client.post("/api/score", {"ep": ref, "outcome": "partial", "items_successful": 1,
                                               "items_total": 3, "failure_mode": "dropped cube", "notes": "n"})
    assert status == 200 and saved["row"]["outcome"] == "partial" and saved["row"]["outcome_source"] == "manual"
    _, table = client.get("/api/episodes?f.outcome=%3Dpartial&page_size=100")
    assert [r["ref"] for r in table["rows"]] == [ref] and table["rows"][0]["score_text"] == "0.33"
    assert (table["rows"][0]["items_successful"], table["rows"][0]["items_total"]) == (1, 3)
    _, modes = client.get("/api/failure_modes")
    assert modes["failure_modes"] == ["dropped cube"]
    after = snapshot(root.parent)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # The score log, and the episode's edit log that carries the score to upstream 0.4.x; no recorded file.
    assert changed == {f"served/main/{SCORE_FILE}", f"served/{ref}/edits.jsonl"} and saved["shared"] is True
    record = json.loads((root / "main" / SCORE_FILE).read_text().splitlines()[-1])
    uid = json.loads((root / ref / "meta.json").read_text())["uid"]
    assert record["ep"] == uid and record["path"] == ref.removeprefix("main/")
    edit = json.loads((root / ref / "edits.jsonl").read_text())
    assert edit["op"] == "set_static" and edit["ep"] == uid
    assert {k: edit["data"][k] for k in ("eval.outcome", "eval.successful_items", "eval.total_items")} == {
        "eval.outcome": "Fail", "eval.successful_items": 1, "eval.total_items": 3}

    server.stop()
    index = EpisodeIndex(root).build()
    restarted = ReviewServer(index, port=0).start()
    try:
        again = make_client(restarted.port)
        _, info = again.get(f"/api/episode?ep={q(ref)}")
        assert info["row"]["outcome"] == "partial" and info["score"]["failure_mode"] == "dropped cube"
        status, cleared = again.post("/api/score", {"ep": ref, "outcome": None})
        assert status == 200 and cleared["row"]["outcome_source"] != "manual"
        _, history = again.get(f"/api/scores?ep={q(ref)}")
        assert [h["outcome"] for h in history["history"]] == ["partial", None]
    finally:
        restarted.stop()


def test_concurrent_scores_all_land(served) -> None:
    _, client, root = served
    _, table = client.get("/api/episodes?f.dataset=%3Dmain&page_size=100")
    refs = [r["ref"] for r in table["rows"]]
    results: list[int] = []

    def post(worker: int) -> None:
        for i in range(10):
            status, _ = client.post("/api/score", {"ep": refs[(worker + i) % len(refs)], "outcome": "failure",
                                                   "failure_mode": f"w{worker}", "notes": str(i)})
            results.append(status)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [200] * 40
    lines = (root / "main" / SCORE_FILE).read_text().splitlines()
    assert len(lines) == 40 and all(json.loads(line)["outcome"] == "failure" for line in lines)


# --- clip export ------------------------------------------------------------------------------------------------

def test_export_clip_into_a_new_and_an_existing_dataset(served, snapshot) -> None:
    _, client, root = served
    ref = first_ref(client)
    before = snapshot(root.parent)
    status, result = client.post("/api/export", {"ep": ref, "start_s": 0.5, "end_s": 1.2, "new_dataset": "clips"})
    assert status == 200, result
    assert result["ref"].startswith("clips/") and result["frames"] == {"image.exterior": 11, "image.wrist": 11}
    clip = Dataset(root / "clips")[0]
    assert clip.static["clip.source_path"] == ref and clip.static["clip.start_s"] == 0.5
    assert "eval.auto_success" not in clip.static
    _, datasets = client.get("/api/datasets")
    assert "clips" in datasets["datasets"]
    _, found = client.get("/api/episodes?f.dataset=%3Dclips")
    assert found["total"] == 1
    status, again = client.post("/api/export", {"ep": ref, "start_s": 0.0, "end_s": 0.4, "dataset": "clips"})
    assert status == 200 and again["ref"] == "clips/000000000000/000000000001"
    after = snapshot(root.parent)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed and all(path.startswith("served/clips/") for path in changed)


def test_a_clip_is_never_counted_as_a_run_even_in_the_dataset_it_came_from(served) -> None:
    _, client, root = served
    before = report.load_runs(root)
    stats_before = report.summarize(before.rows, ["checkpoint"])
    _, datasets = client.get("/api/datasets")
    assert datasets["clips"] == "clips"  # the page's default target: a separate dataset
    ref = first_ref(client)
    status, result = client.post("/api/export", {"ep": ref, "start_s": 0.0, "end_s": 1.0, "dataset": "main"})
    assert status == 200, result
    clip_row = result["row"]
    assert clip_row["clip_of"] == f"{ref} 0.00–1.00 s" and clip_row["outcome"] == "" and clip_row["score"] is None
    static = Dataset(root / "main")[6].static
    assert static["clip.source_path"] == ref and (static["clip.start_s"], static["clip.end_s"]) == (0.0, 1.0)
    _, table = client.get("/api/episodes?f.dataset=%3Dmain&page_size=100")
    assert table["total"] == 7 and table["status"]["clips"] == 1
    _, runs_only = client.get("/api/episodes?f.clip_of=%3D&page_size=100")
    assert runs_only["total"] == 10
    after = report.load_runs(root)
    assert len(after.rows) == len(before.rows) == 10 and (before.clips, after.clips) == (0, 1)
    assert report.summarize(after.rows, ["checkpoint"]) == stats_before
    status, scored = client.post("/api/score", {"ep": result["ref"], "outcome": "success"})
    assert status == 200 and scored["row"]["outcome"] == "success"  # a clip may be labelled by hand ...
    assert report.summarize(report.load_runs(root).rows, ["checkpoint"]) == stats_before  # ... and still not count


# --- bad input --------------------------------------------------------------------------------------------------

TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "main/../../outside", "main/000000000000/../../../x", "..", ".",
              "main/000000000000/000000000000/../../../../etc", "%2e%2e/%2e%2e/etc/passwd", "main\\..\\..", "\x00"]


def test_unknown_episodes_and_traversal_never_reach_the_disk(served, snapshot) -> None:
    _, client, root = served
    ref = first_ref(client)
    before = snapshot(root.parent)
    for bad in TRAVERSALS + ["main/000000000000/000000000099"]:
        for path in (f"/api/episode?ep={q(bad)}", f"/api/signals?ep={q(bad)}&names=grip",
                     f"/api/video?ep={q(bad)}&cam=image.wrist", f"/api/scores?ep={q(bad)}",
                     f"/api/frame?ep={q(bad)}&cam=image.wrist&i=0"):
            status, body = client.get(path)
            assert status == 404 and "no episode" in body["error"], (path, body)
        status, body = client.post("/api/score", {"ep": bad, "outcome": "success"})
        assert status == 404, (bad, body)
        status, body = client.post("/api/export", {"ep": bad, "start_s": 0, "end_s": 1, "dataset": "main"})
        assert status == 404, (bad, body)
    for cam in ["../static.json", "../../../../etc/passwd", "image.wrist.mp4", "image.wrist/../grip", "static",
                "robot_state.q", ""]:
        status, body = client.get(f"/api/video?ep={q(ref)}&cam={q(cam)}")
        assert status in (400, 404), (cam, body)
        status, _, _ = client.request("GET", f"/api/frame?ep={q(ref)}&cam={q(cam)}&i=0")
        assert status in (400, 404), cam
    for target in ["..", "../outside", "/tmp", "main/..", "nested", "nested/run2/../../.."]:
        status, body = client.post("/api/export", {"ep": ref, "start_s": 0, "end_s": 1, "dataset": target})
        assert status == 404, (target, body)
    for name in ["../evil", "a/b", "..", ".hidden", "/abs", "000000000000", "x" * 65, "", "clips\x00", 5, None]:
        status, body = client.post("/api/export", {"ep": ref, "start_s": 0, "end_s": 1, "new_dataset": name})
        assert status == 400, (name, body)
    for path in ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py", "/static/",
                 "/episode/../../etc/passwd", "/episode/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd",
                 "/api/nope", "/static/.hidden"]:
        status, _, body = client.request("GET", path)
        assert status == 404, path
        assert b"root:" not in body
    assert snapshot(root.parent) == before


BAD_BODIES = [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'"text"', "JSON object"),
    (b'{"ep": "X", "outcome": NaN}', "not allowed"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"", "not valid JSON"),
]


def test_malformed_bodies_are_400_and_write_nothing(served, snapshot) -> None:
    _, client, root = served
    ref = first_ref(client)
    before = snapshot(root.parent)
    for body, fragment in BAD_BODIES:
        for endpoint in ("/api/score", "/api/export"):
            status, answer = client.post(endpoint, body)
            assert status == 400 and fragment in answer["error"], (endpoint, body, answer)
    bad_scores = [{"outcome": "maybe"}, {}, {"outcome": "success", "rogue": 1},
                  {"outcome": "partial", "items_successful": 5, "items_total": 2},
                  {"outcome": "failure", "notes": ["a"]}, {"outcome": "failure", "failure_mode": "x" * 500},
                  {"outcome": "success", "items_successful": "1", "items_total": 2}]
    for score in bad_scores:
        status, answer = client.post("/api/score", {"ep": ref, **score})
        assert status == 400, (score, answer)
    bad_exports = [{"start_s": 1, "end_s": 0.5}, {"start_s": -1, "end_s": 1}, {"start_s": 0, "end_s": 999},
                   {"start_s": "0", "end_s": 1}, {"start_s": 0, "end_s": True}, {"start_s": 0, "end_s": 1e400},
                   {"start_s": 0, "end_s": 1, "dataset": "main", "new_dataset": "x"}, {"start_s": 0, "end_s": 1},
                   {"start_s": 0, "end_s": 1, "dataset": "main", "unknown": 1}]
    for export in bad_exports:
        payload = {"ep": ref, **export}
        if "dataset" not in export and "new_dataset" not in export and export != {"start_s": 0, "end_s": 1}:
            payload["dataset"] = "main"
        status, answer = client.post("/api/export", payload)
        assert status == 400, (export, answer)
    status, answer = client.post("/api/score", {"ep": ref, "outcome": "success"}, headers={"Origin": "http://evil"})
    assert status == 403 and "cross-origin" in answer["error"]
    status, _, raw = client.request("POST", "/api/score", json.dumps({"ep": ref, "outcome": "success"}).encode(),
                                    {"Content-Type": "text/plain"})
    assert status == 415 and b"application/json" in raw
    for method in ("PUT", "DELETE", "PATCH"):
        status, _, _ = client.request(method, "/api/score", b"{}", {"Content-Type": "application/json"})
        assert status == 405
    status, _ = client.post("/api/nope", {"a": 1})
    assert status == 404
    assert snapshot(root.parent) == before


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_huge_missing_and_lying_lengths(served, snapshot) -> None:
    server, _, root = served
    before = snapshot(root.parent)
    head = b"POST /api/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    huge = _raw(server.port, head + f"Content-Length: {100 * MAX_BODY_BYTES}\r\n\r\n".encode() + b"{" * 1000)
    assert huge.startswith(b"HTTP/1.1 413") and b"limit" in huge
    missing = _raw(server.port, head + b"\r\n{}")
    assert missing.startswith(b"HTTP/1.1 411")
    chunked = _raw(server.port, head + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411")
    short = _raw(server.port, head + b"Content-Length: 500\r\n\r\n{}")
    assert short.startswith(b"HTTP/1.1 400") and b"body ended" in short
    negative = _raw(server.port, head + b"Content-Length: -5\r\n\r\n")
    assert negative.startswith(b"HTTP/1.1 400")
    assert snapshot(root.parent) == before


def test_foreign_host_names_are_refused_on_loopback(served, snapshot) -> None:
    """DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends Host: evil.example."""
    _, client, root = served
    before = snapshot(root.parent)
    status, body = client.get("/api/episodes", headers={"Host": f"evil.example:{client.port}"})
    assert status == 403 and "loopback" in body["error"]
    status, body = client.post("/api/score", {"ep": first_ref(client), "outcome": "success"},
                               headers={"Host": "evil.example", "Origin": "http://evil.example"})
    assert status == 403
    for host in (f"localhost:{client.port}", f"127.0.0.1:{client.port}", f"[::1]:{client.port}"):
        status, _ = client.get("/api/status", headers={"Host": host})
        assert status == 200, host
    assert snapshot(root.parent) == before
