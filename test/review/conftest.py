"""Fixtures for the review server tests: small synthetic datasets (written with our writer) and a running server."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from synthetic_dataset import write_synthetic_dataset

from positronic_core.review.episode_index import EpisodeIndex
from positronic_core.review.server import ReviewServer

CAMERAS = ("image.wrist", "image.exterior")


@pytest.fixture(scope="session")
def template_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A served directory holding two datasets: `main` (6 episodes with videos and recorded verdicts) and
    `nested/run2` (4 episodes without verdicts, so outcomes come from the stacking signal)."""
    root = tmp_path_factory.mktemp("review-template")
    write_synthetic_dataset(root / "main", 6, ticks=24, cameras=CAMERAS, seeds=3, seed=1)
    write_synthetic_dataset(root / "nested" / "run2", 4, ticks=20, record_verdict=False, seeds=2, seed=2)
    return root


@pytest.fixture
def dataset(template_dataset: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template for a test that writes (scores, clips)."""
    target = tmp_path / "served"
    shutil.copytree(template_dataset, target)
    return target


class Client:
    """Raw HTTP against the review server (http.client, so tests control every header and byte)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        status, _, body = self.request("GET", path, headers=headers)
        return status, json.loads(body) if body else None

    def post(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        status, _, body = self.request("POST", path, raw, {"Content-Type": "application/json", **(headers or {})})
        return status, json.loads(body) if body else None


@pytest.fixture
def served(dataset: Path) -> Iterator[tuple[ReviewServer, Client, Path]]:
    index = EpisodeIndex(dataset)
    index.start()
    assert index.wait(60), "indexing did not finish"
    server = ReviewServer(index, host="127.0.0.1", port=0).start()
    try:
        yield server, Client(server.port), dataset
    finally:
        server.stop()
        index.close()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with its size and mtime, to prove a request wrote nothing (or only the score log)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.fixture
def snapshot():
    """`tree`, as a fixture (test modules here cannot import this conftest by name)."""
    return tree


@pytest.fixture
def make_client():
    return Client
