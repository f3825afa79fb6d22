"""Review server on 10,000 episodes: time to the first table page, and latency of sort / filter / page requests,
beside upstream Positronic 0.2.1's positronic-server on the same data, measured in the same run.

The dataset (short synthetic sim-evaluation episodes, written with our DatasetWriter) is built once and kept in
$POSITRONIC_BENCH_DIR (default /tmp/positronic-bench) for later runs. Each server runs alone, as a subprocess
started through its real command line, so the two never share the machine's cores.

Targets (issue): first page within 2 s of start while indexing continues; every request under 100 ms.

Upstream's table is one response holding every episode, sorted and paged in the browser, with `?<static>=<value>`
filters on the server and an in-memory cache of answers; so for it "first page" is its first complete
/api/episodes answer, and its requests are its filter queries.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The synthetic dataset writer is a test helper (test/support), not part of the product package.
sys.path.insert(0, str(ROOT / "test" / "support"))
EPISODES = int(os.environ.get("POSITRONIC_BENCH_EPISODES", "10000"))
WORKERS = 4
DATA_DIR = Path(os.environ.get("POSITRONIC_BENCH_DIR", "/tmp/positronic-bench")) / f"review-{EPISODES}"
MARKER = DATA_DIR / ".complete-v1"
OUR_SERVER = ROOT / ".venv" / "bin" / "positronic-server"
UPSTREAM_SERVER = ROOT / ".venv-upstream" / "bin" / "positronic-server"
START_TIMEOUT_S = 600


def _write_part(args: tuple[str, int, int]) -> None:
    from synthetic_dataset import write_synthetic_dataset

    root, count, seed = args
    write_synthetic_dataset(Path(root), count, ticks=15, minimal=True, seeds=50,
                            checkpoints=("10000", "20000", "30000", "40000"), seed=seed)


def ensure_dataset() -> float:
    """Build the dataset unless a complete one is cached; returns the seconds spent building (0 if cached)."""
    if MARKER.exists():
        return 0.0
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    DATA_DIR.mkdir(parents=True)
    started = time.monotonic()
    parts = [EPISODES // WORKERS + (1 if i < EPISODES % WORKERS else 0) for i in range(WORKERS)]
    # Writers may share a root: each claims its episode id with mkdir and moves past ids another one took.
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        pool.map(_write_part, [(str(DATA_DIR), count, seed) for seed, count in enumerate(parts)])
    MARKER.write_text(f"{EPISODES}\n")
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Http:
    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            raise

    def timed(self, path: str) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        status, body = self.get(path)
        return (time.perf_counter() - started) * 1000, status, body


def wait_for(client: Http, path: str, ready, started: float) -> float:
    """Poll `path` until `ready(status, body)`; seconds since `started` (the server's spawn)."""
    while time.monotonic() - started < START_TIMEOUT_S:
        try:
            status, body = client.get(path)
            if ready(status, body):
                return time.monotonic() - started
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        time.sleep(0.01)
    raise TimeoutError(f"no answer from {path} within {START_TIMEOUT_S} s")


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):6.1f} ms, p95 {p95:6.1f} ms, max {ordered[-1]:6.1f} ms"


def bench_ours() -> dict:
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen([str(OUR_SERVER), f"--dataset.path={DATA_DIR}", f"--port={port}", "--log_level=warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = Http(port)
    results: dict = {}
    try:
        snapshot: dict = {}

        def first_page(status: int, body: bytes) -> bool:
            if status != 200:
                return False
            data = json.loads(body)
            snapshot.update(data["status"])
            return bool(data["rows"])

        results["first_page_s"] = wait_for(client, "/api/episodes?page_size=50", first_page, started)
        results["indexed_at_first_page"] = f"{snapshot['indexed']} of {snapshot['found']}"
        results["indexing_s"] = wait_for(client, "/api/status", lambda s, b: s == 200 and not json.loads(b)["loading"],
                                         started)
        # Every query differs (sort, direction, filter, page), so none is answered from the order cache.
        cold = []
        columns = ["duration_s", "task", "checkpoint", "seed", "start", "outcome", "score", "episode_id", "model"]
        filters = ["f.checkpoint=20000", "f.duration_s=%3E1.0", "f.outcome=%3Dsuccess", "f.seed=10..20",
                   "f.task=red", "f.checkpoint=%2130000", "f.duration_s=%3C1.1&f.outcome=failure"]
        for i in range(len(columns) * 2):
            query = f"sort={columns[i % len(columns)]}&desc={i % 2}&{filters[i % len(filters)]}&page={i * 7 % 40}"
            elapsed, status, _ = client.timed(f"/api/episodes?{query}")
            assert status == 200, query
            cold.append(elapsed)
        warm = []
        for page in range(40):
            elapsed, status, _ = client.timed(f"/api/episodes?sort=duration_s&desc=1&page={page}")
            assert status == 200
            warm.append(elapsed)
        status, body = client.get(f"/api/episodes?page_size=1&page={EPISODES // 2}")
        ref = json.loads(body)["rows"][0]["ref"]
        detail = []
        for _ in range(10):
            elapsed, status, _ = client.timed(f"/api/episode?ep={ref}")
            assert status == 200
            detail.append(elapsed)
        results.update(cold=cold, warm=warm, detail=detail)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return results


def bench_upstream() -> dict | None:
    if not UPSTREAM_SERVER.exists():
        return None
    port = free_port()
    cache = DATA_DIR.parent / "upstream-server-cache"
    started = time.monotonic()
    process = subprocess.Popen([str(UPSTREAM_SERVER), f"--dataset.path={DATA_DIR}", f"--port={port}",
                                "--host=127.0.0.1", "--https=False", f"--cache_dir={cache}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
    client = Http(port)
    results: dict = {}
    try:
        results["first_page_s"] = wait_for(client, "/api/episodes",
                                           lambda s, b: s == 200 and bool(json.loads(b)["episodes"]), started)
        cold = []
        for i in range(18):
            key, value = [("inference.policy.server.checkpoint_id", str(10000 * (1 + i % 4))),
                          ("simulation.seed", str(i)), ("eval.auto_success", "True" if i % 2 else "False")][i % 3]
            elapsed, status, _ = client.timed(f"/api/episodes?{key}={value}")
            assert status == 200
            cold.append(elapsed)
        warm = []
        for _ in range(40):
            elapsed, status, _ = client.timed("/api/episodes")
            assert status == 200
            warm.append(elapsed)
        results.update(cold=cold, warm=warm)
    except (TimeoutError, AssertionError) as exc:
        results["error"] = str(exc)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode not in (0, -15) and "first_page_s" not in results:
            results["error"] = process.stderr.read().decode(errors="replace")[-600:]
    return results


def main() -> int:
    built = ensure_dataset()
    print(f"dataset: {EPISODES} episodes at {DATA_DIR}" + (f" (built in {built:.0f} s with {WORKERS} writers)"
                                                            if built else " (cached)"))
    ours = bench_ours()
    upstream = bench_upstream()
    print(f"\n{'':38}{'ours':>34}   {'upstream 0.2.1':>34}")
    up_first = "-" if not upstream or "first_page_s" not in upstream else f"{upstream['first_page_s']:.2f} s"
    print(f"{'start -> first table page':38}{ours['first_page_s']:>32.2f} s   {up_first:>34}")
    print(f"{'  episodes indexed at that moment':38}{ours['indexed_at_first_page']:>34}   {'(all: loads first)':>34}")
    print(f"{'start -> indexing complete':38}{ours['indexing_s']:>32.2f} s   {up_first:>34}")
    up_cold = summary(upstream["cold"]) if upstream and "cold" in upstream else "-"
    up_warm = summary(upstream["warm"]) if upstream and "warm" in upstream else "-"
    print(f"{'distinct sort/filter/page (uncached)':38}{summary(ours['cold']):>34}   {up_cold:>34}")
    print(f"{'paging a sorted table (cached order)':38}{summary(ours['warm']):>34}   {up_warm:>34}")
    print(f"{'episode page data (/api/episode)':38}{summary(ours['detail']):>34}   {'(no equivalent)':>34}")
    if upstream is None:
        print("\nupstream: .venv-upstream/bin/positronic-server not installed (make test creates it)")
    elif "error" in upstream:
        print(f"\nupstream could not serve this dataset: {upstream['error']}")
    else:
        print(f"\nratios (upstream / ours): first page {upstream['first_page_s'] / ours['first_page_s']:.1f}x; "
              f"uncached request median {statistics.median(upstream['cold']) / statistics.median(ours['cold']):.1f}x; "
              f"repeated request median {statistics.median(upstream['warm']) / statistics.median(ours['warm']):.1f}x")
    worst = max(ours["cold"] + ours["warm"])
    verdict = ours["first_page_s"] <= 2.0 and worst < 100.0
    print(f"targets (first page <= 2 s, every table request < 100 ms): {'met' if verdict else 'NOT met'} "
          f"(first page {ours['first_page_s']:.2f} s, slowest request {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
