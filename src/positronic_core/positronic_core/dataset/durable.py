"""Flushing what was written to disk before it is announced: a file's bytes, and a directory's entries (a rename
into it is durable only once the directory itself is synced)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    _fsync(path, os.O_RDONLY)


def fsync_dir(path: Path) -> None:
    _fsync(path, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
