"""Every recorded episode under a directory as rows with edit logs and manual scores applied, read at once (for
reports). Episodes an edit log drops are left out and counted in `dropped`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.edits import EditLogs, log_dirs
from positronic_core.dataset.errors import DatasetError
from positronic_core.runs.discovery import find_dataset_roots
from positronic_core.runs.row import apply_score, read_row, relative_name
from positronic_core.runs.score_log import ScoreLog

_log = logging.getLogger(__name__)


@dataclass
class Collected:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<ref>: <why>" for each episode that could not be read
    dropped: int = 0


def collect_rows(start: Path) -> Collected:
    """The rows of every finished episode in every dataset at or below `start`, in (dataset, id) order; `index`
    numbers them in that order. Episodes that cannot be read are left out and named in `errors`."""
    start = Path(start).expanduser().resolve()
    if not start.is_dir():
        raise DatasetError(f"{start} is not a directory")
    collected = Collected()
    edit_logs = EditLogs()
    for root in find_dataset_roots(start):
        shared = edit_logs.shared(log_dirs(root, start))
        scores = ScoreLog(root)
        scores.refresh()
        label = relative_name(root, start)
        for episode_id, path in layout.episode_dirs(root):
            if not layout.is_finished(path):
                continue
            ref = relative_name(path, start)
            try:
                row = read_row(root, path, episode_id, label, ref, edit_logs, shared)
            except (OSError, ValueError, DatasetError) as exc:
                _log.warning("skipping episode %s: %s", path, exc)
                collected.errors.append(f"{ref}: {exc}")
                continue
            if row["dropped"]:
                collected.dropped += 1
                continue
            apply_score(row, scores.latest(row["key"]))
            row["index"] = len(collected.rows)
            collected.rows.append(row)
    return collected
