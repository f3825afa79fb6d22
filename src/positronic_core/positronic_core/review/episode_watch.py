"""Finished episodes of one dataset that the review server has not listed yet, found by polling the directory.

Writers create an episode directory and then its `.unfinished` marker, and remove the marker when the episode is
complete (`dataset.writer`). A directory first seen while polling therefore waits one more poll before it counts
as finished, so one caught between its mkdir and its marker is not read half-written. Only block directories that
changed (or changed recently: directory mtimes are coarse) are listed again, so a poll of a 10,000-episode dataset
costs a few stats plus the episodes still waiting for their marker to go.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from positronic_core.dataset import layout

#: A block whose mtime is this recent is listed again even if unchanged: a directory created in the same
#: timestamp tick as the last listing leaves the mtime as it was.
RECENT_S = 2.0


class EpisodeWatch:
    """The episodes of `root` not yet handed out by `poll`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._block_mtimes: dict[str, int] = {}
        self._waiting: dict[Path, int] = {}
        self._handed: set[Path] = set()

    def poll(self, settle: bool = True) -> list[tuple[int, Path]]:
        """Episodes that are finished now and were not handed out before, as (id, path) in id order.

        With `settle`, an episode first seen by this call waits for the next one (see the module docstring);
        without, every finished episode counts at once (the first listing of a dataset)."""
        fresh = self._new_directories()
        ready = [(i, p) for p, i in self._waiting.items() if layout.is_finished(p)]
        for path, episode_id in fresh.items():
            if not settle and layout.is_finished(path):
                ready.append((episode_id, path))
            else:
                self._waiting[path] = episode_id
        for _, path in ready:
            self._waiting.pop(path, None)
            self._handed.add(path)
        return sorted(ready)

    def _new_directories(self) -> dict[Path, int]:
        fresh: dict[Path, int] = {}
        now_ns = time.time_ns()
        try:
            blocks = [e for e in os.scandir(self.root) if layout.parse_id(e.name) is not None]
        except OSError:
            return fresh
        for block in blocks:
            try:
                if not block.is_dir(follow_symlinks=False):
                    continue
                mtime = block.stat(follow_symlinks=False).st_mtime_ns
            except OSError:
                continue
            recent = now_ns - mtime < RECENT_S * 1e9
            if self._block_mtimes.get(block.name) == mtime and not recent:
                continue
            self._block_mtimes[block.name] = mtime
            try:
                entries = list(os.scandir(block.path))
            except OSError:
                continue
            for entry in entries:
                episode_id = layout.parse_id(entry.name)
                if episode_id is None or not entry.is_dir(follow_symlinks=False):
                    continue
                path = Path(entry.path)
                if path not in self._handed and path not in self._waiting:
                    fresh[path] = episode_id
        return fresh
