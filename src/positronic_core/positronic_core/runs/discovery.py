"""Finding every dataset under a directory, however deeply nested (one run per subdirectory, say).

A directory is a dataset root when it holds at least one block directory (12 digits) with an episode directory
(12 digits) in it. The search does not descend into block directories, hidden directories or symlinked
directories (a link loop must not hang the server), and stops at `max_depth` levels below the start.
"""

from __future__ import annotations

import os
from pathlib import Path

from positronic_core.dataset import layout

MAX_DEPTH = 8


def is_dataset_root(path: Path) -> bool:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    for entry in entries:
        if layout.parse_id(entry.name) is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            with os.scandir(entry.path) as inner:
                if any(layout.parse_id(e.name) is not None and e.is_dir(follow_symlinks=False) for e in inner):
                    return True
        except OSError:
            continue
    return False


def find_dataset_roots(start: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Every dataset root at or below `start`, sorted by path; `start` itself first if it is one."""
    start = Path(start)
    found: list[Path] = []
    pending: list[tuple[Path, int]] = [(start, 0)]
    while pending:
        path, depth = pending.pop()
        if is_dataset_root(path):
            found.append(path)
        if depth >= max_depth:
            continue
        try:
            children = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            continue
        for entry in children:
            if entry.name.startswith(".") or layout.parse_id(entry.name) is not None:
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), depth + 1))
    found.sort(key=lambda p: (p != start, str(p)))
    return found
