"""The episode table behind the review server: one row per episode of every dataset under the served directory.

Rows (`runs.row`) are built in a background thread, so the table answers while indexing goes on and `status()`
reports how far it got. After that first pass the same thread keeps watching the directory (`episode_watch`):
episodes recorded or finished while the server runs, and datasets created under it, join the table within a few
seconds. Queries (filter, sort, page) run on the rows in memory; a sorted and filtered order is cached until the
rows change, so paging through a 10,000-episode table costs a slice. Scores come from each dataset's score log and
are re-read whenever the log grows (any writer). Edit logs (`dataset.edits`) apply as rows are read: dropped
episodes are left out (`status()["dropped"]` counts them) and `set_static` edits count as recorded statics.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from positronic_core.dataset.edits import EDITS_FILE, EditLogs, EpisodeEdits, Records, episode_uid, log_dirs
from positronic_core.dataset.errors import DatasetError
from positronic_core.review.episode_watch import EpisodeWatch
from positronic_core.runs.discovery import find_dataset_roots
from positronic_core.runs.row import apply_score, public_row, read_row, relative_name
from positronic_core.runs.score_log import ScoreLog

_log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str  # "number" or "text"
    sort_key: str | None = None  # another row field to sort by (start sorts by its timestamp)


COLUMNS = (
    Column("index", "#", "number"),
    Column("dataset", "Dataset", "text"),
    Column("episode_id", "Episode", "number"),
    Column("start", "Start", "text", sort_key="created_ts_ns"),
    Column("duration_s", "Duration (s)", "number"),
    Column("task", "Task", "text"),
    Column("policy", "Policy", "text"),
    Column("model", "Model", "text"),
    Column("checkpoint", "Checkpoint", "text"),
    Column("seed", "Seed", "number"),
    Column("clip_of", "Clip of", "text"),
    Column("outcome", "Outcome", "text"),
    Column("score", "Score", "number"),
    Column("failure_mode", "Failure mode", "text"),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
_NUMBER_FILTER = re.compile(r"^\s*(>=|<=|>|<|=)?\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$")
_RANGE_FILTER = re.compile(r"^\s*(-?\d+(?:\.\d*)?)\s*\.\.\s*(-?\d+(?:\.\d*)?)\s*$")


class QueryError(ValueError):
    """A table query naming an unknown column or an impossible page."""


@dataclass
class EpisodeRef:
    """Where a row's episode lives: the dataset root, its score log and the episode directory."""

    dataset_root: Path
    scores: ScoreLog
    path: Path


def _matches(row: dict[str, Any], column: Column, text: str) -> bool:
    value = row.get(column.key)
    if column.kind == "number":
        ranged = _RANGE_FILTER.match(text)
        if ranged:
            return value is not None and float(ranged.group(1)) <= value <= float(ranged.group(2))
        compared = _NUMBER_FILTER.match(text)
        if compared:
            if value is None:
                return False
            op, number = compared.group(1), float(compared.group(2))
            if op is None:
                return _display(value).startswith(compared.group(2)) or value == number
            return {"=": value == number, ">": value > number, "<": value < number, ">=": value >= number,
                    "<=": value <= number}[op]
    shown = _display(value).lower()
    needle = text.strip().lower()
    if needle.startswith("!"):
        return needle[1:] not in shown
    if needle.startswith("="):
        return shown == needle[1:]
    return needle in shown


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _sort_key(column: Column):
    field = column.sort_key or column.key

    def key(row: dict[str, Any]) -> Any:
        value = row.get(field)
        return value.lower() if isinstance(value, str) else value

    return key


class EpisodeIndex:
    """All episodes under `root`: `start()` indexes in the background and then watches for new ones; `build()`
    indexes once, synchronously."""

    CACHE_SIZE = 16

    def __init__(self, root: Path, watch_interval_s: float = WATCH_INTERVAL_S) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DatasetError(f"dataset path {self.root} is not a directory")
        self.watch_interval_s = watch_interval_s
        self._lock = threading.RLock()
        self._rows: list[dict[str, Any]] = []
        self._refs: dict[str, EpisodeRef] = {}
        self._row_of: dict[str, dict[str, Any]] = {}
        self._by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._logs: dict[Path, ScoreLog] = {}
        self._edit_logs = EditLogs()
        self._edit_dirs: dict[Path, list[Path]] = {}
        self._dropped = 0
        self._watches: dict[Path, EpisodeWatch] = {}
        self._orders: OrderedDict[tuple, list[dict[str, Any]]] = OrderedDict()
        self._generation = 0
        self._found = 0
        self._clips = 0
        self._loading = True
        self._built = threading.Event()
        self._stopping = threading.Event()
        self._errors: list[str] = []
        self._started_at = time.monotonic()
        self._finished_at: float | None = None
        self._thread: threading.Thread | None = None
        self._last_refresh = 0.0

    # --- indexing -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._index_and_watch, name="episode-index", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the first indexing pass; True once it is done."""
        return self._built.wait(timeout)

    def close(self) -> None:
        """Stop watching for new episodes (the rows stay queryable)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)

    def build(self) -> EpisodeIndex:
        """Index once, synchronously, without watching."""
        self._build()
        return self

    def _index_and_watch(self) -> None:
        self._build()
        while not self._stopping.wait(self.watch_interval_s):
            try:
                self.rescan()
            except Exception:  # keep watching: a dataset being moved or deleted must not end the server's updates
                _log.exception("looking for new episodes under %s failed", self.root)

    def _build(self) -> None:
        try:
            listings = []
            for root in find_dataset_roots(self.root):
                watch = self._watch(root)
                episodes = watch.poll(settle=False)
                with self._lock:
                    self._found += len(episodes)
                listings.append((root, episodes))
            for root, episodes in listings:
                self._index(root, episodes)
        except Exception as exc:  # keep serving what was indexed, and say what went wrong
            _log.exception("indexing %s failed", self.root)
            with self._lock:
                self._errors.append(f"indexing stopped: {exc}")
        finally:
            with self._lock:
                self._loading = False
                self._finished_at = time.monotonic()
                self._generation += 1
            self._built.set()

    def rescan(self) -> int:
        """Index episodes finished, and datasets created, since the last look; returns how many rows were added."""
        added = 0
        for root in find_dataset_roots(self.root):
            episodes = self._watch(root).poll()
            if episodes:
                added += self._index(root, episodes)
        return added

    def _watch(self, root: Path) -> EpisodeWatch:
        with self._lock:
            watch = self._watches.get(root)
            if watch is None:
                watch = self._watches[root] = EpisodeWatch(root)
                self._logs[root] = ScoreLog(root)
            return watch

    def _index(self, root: Path, episodes: list[tuple[int, Path]]) -> int:
        log = self._logs[root]
        log.refresh()
        added = 0
        batch: list[dict[str, Any]] = []
        shared = self._edit_logs.shared(self.edit_dirs(root))
        for episode_id, path in episodes:
            row = self._read(root, log, path, episode_id, shared)
            if row is not None:
                batch.append(row)
            if len(batch) >= 250:
                added += self._add_rows(batch)
                batch = []
                time.sleep(0)  # let request threads in
        return added + self._add_rows(batch)

    def _read(self, root: Path, log: ScoreLog, path: Path, episode_id: int,
              shared: list[Records]) -> dict[str, Any] | None:
        ref = relative_name(path, self.root)
        try:
            row = read_row(root, path, episode_id, relative_name(root, self.root), ref, self._edit_logs, shared)
        except (OSError, ValueError, DatasetError) as exc:
            with self._lock:
                self._errors.append(f"{ref}: {exc}")
            _log.warning("skipping episode %s: %s", path, exc)
            return None
        if row["dropped"]:
            with self._lock:
                self._dropped += 1
            return None
        apply_score(row, log.latest(row["key"]))
        row["_ref"] = EpisodeRef(root, log, path)
        return row

    def edit_dirs(self, dataset_root: Path) -> list[Path]:
        """The directories whose edit logs apply to a dataset's episodes before their own (`dataset.edits`)."""
        dirs = self._edit_dirs.get(dataset_root)
        if dirs is None:
            dirs = self._edit_dirs[dataset_root] = log_dirs(dataset_root, self.root)
        return dirs

    def episode_edits(self, located: EpisodeRef, meta: dict[str, Any]) -> EpisodeEdits:
        """The edits the logs hold for one listed episode now."""
        shared = self._edit_logs.shared(self.edit_dirs(located.dataset_root))
        return self._edit_logs.edits(episode_uid(meta), located.path, shared)

    def _add_rows(self, rows: list[dict[str, Any]]) -> int:
        """Append rows not listed yet (a clip's row may arrive both from its export and from the watch)."""
        added = 0
        with self._lock:
            for row in rows:
                located = row.pop("_ref")
                if row["ref"] in self._refs:
                    continue
                row["index"] = len(self._rows)
                self._rows.append(row)
                self._refs[row["ref"]] = located
                self._row_of[row["ref"]] = row
                self._by_key.setdefault((str(located.dataset_root), row["key"]), []).append(row)
                self._clips += bool(row["clip_of"])
                added += 1
            if added:
                self._generation += 1
                self._orders.clear()
        return added

    def add_episode(self, dataset_root: Path, episode_path: Path, episode_id: int) -> dict[str, Any]:
        """Index one new episode (a clip just exported) and return its row."""
        dataset_root = Path(dataset_root).resolve()
        self._watch(dataset_root)
        shared = self._edit_logs.shared(self.edit_dirs(dataset_root))
        row = self._read(dataset_root, self._logs[dataset_root], Path(episode_path), episode_id, shared)
        if row is None:
            raise DatasetError(f"the new episode at {episode_path} could not be read")
        ref = row["ref"]
        self._add_rows([row])
        return self.row(ref)

    def reread(self, ref: str) -> dict[str, Any] | None:
        """Read one listed episode's row again (its edit logs may have changed) and return it as clients see it.

        An episode an edit log now drops leaves the table, but its page still answers (showing `dropped`) for a
        reviewer who has it open."""
        with self._lock:
            located, old = self._refs.get(ref), self._row_of.get(ref)
        if located is None or old is None:
            return None
        try:
            fresh = read_row(located.dataset_root, located.path, old["episode_id"], old["dataset"], ref,
                             self._edit_logs, self._edit_logs.shared(self.edit_dirs(located.dataset_root)))
        except (OSError, ValueError, DatasetError) as exc:
            _log.warning("re-reading episode %s failed: %s", located.path, exc)
            return self.row(ref)
        with self._lock:
            fresh["index"] = old["index"]
            old.update(fresh)
            apply_score(old, located.scores.latest(old["key"]))
            self._generation += 1
            self._orders.clear()
        return self.row(ref)

    def reread_edited(self, refs: list[str]) -> bool:
        """Re-read the rows of `refs` whose own edit log changed since they were read (0.4.x's tools append to
        it); True if any did. Meant for the rows a page shows: a stat each, not a scan of the whole table."""
        changed = False
        for ref in refs:
            with self._lock:
                located = self._refs.get(ref)
            if located is None:
                continue
            try:
                stat = (located.path / EDITS_FILE).stat()
                now: tuple[int, int] | None = (stat.st_size, stat.st_mtime_ns)
            except OSError:
                now = None
            if now != self._edit_logs.stamp(located.path):
                self.reread(ref)
                changed = True
        return changed

    def _reread_edited_datasets(self) -> None:
        """Re-read the rows of datasets whose shared edit logs (dataset root and above) changed since read."""
        with self._lock:
            roots = list(self._logs)
        for root in roots:
            dirs = self.edit_dirs(root)
            changed = False
            for directory in dirs:
                before = self._edit_logs.stamp(directory)
                self._edit_logs.records(directory)
                changed = changed or self._edit_logs.stamp(directory) != before
            if changed:
                with self._lock:
                    refs = [ref for ref, located in self._refs.items() if located.dataset_root == root]
                for ref in refs:
                    self.reread(ref)

    # --- state ----------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            end = self._finished_at if self._finished_at is not None else time.monotonic()
            # `found` counts the first pass (less what edit logs drop); episodes added later count as indexed.
            found = max(self._found - self._dropped, len(self._rows))
            return {"loading": self._loading, "indexed": len(self._rows), "found": found, "clips": self._clips,
                    "dropped": self._dropped, "datasets": [relative_name(r, self.root) for r in self._logs],
                    "root": str(self.root), "errors": self._errors[-20:], "error_count": len(self._errors),
                    "elapsed_s": round(end - self._started_at, 3)}

    def dataset_roots(self) -> dict[str, Path]:
        with self._lock:
            return {relative_name(r, self.root): r for r in self._logs}

    def ref(self, ref: str) -> EpisodeRef | None:
        with self._lock:
            return self._refs.get(ref)

    def row(self, ref: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._row_of.get(ref)
            return public_row(row) if row is not None else None

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rows]

    # --- scores ---------------------------------------------------------------------------------------------

    def refresh_scores(self, min_interval_s: float = 0.0) -> None:
        """Pick up lines any writer appended to the score logs, and to the edit logs of dataset roots and the
        directories above them, since the last look (an episode's own edit log is re-read by `reread`)."""
        now = time.monotonic()
        if now - self._last_refresh < min_interval_s:
            return
        self._last_refresh = now
        self._reread_edited_datasets()
        with self._lock:
            logs = list(self._logs.items())
        for root, log in logs:
            changed = log.refresh()
            if not changed:
                continue
            with self._lock:
                for key in changed:
                    for row in self._by_key.get((str(root), key), []):
                        apply_score(row, log.latest(key))
                self._generation += 1
                self._orders.clear()

    def failure_modes(self) -> list[str]:
        """Failure-mode tags used so far, most frequent first (suggestions for the next score)."""
        with self._lock:
            counts = Counter(row["failure_mode"] for row in self._rows if row["failure_mode"])
        return [mode for mode, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))]

    # --- queries --------------------------------------------------------------------------------------------

    def _ordered(self, sort: str, descending: bool, filters: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
        cache_key = (self._generation, sort, descending, filters)
        cached = self._orders.get(cache_key)
        if cached is not None:
            self._orders.move_to_end(cache_key)
            return cached
        rows = [row for row in self._rows if not row["dropped"]]
        for key, text in filters:
            column = COLUMN_BY_KEY[key]
            rows = [row for row in rows if _matches(row, column, text)]
        column = COLUMN_BY_KEY[sort]
        field = column.sort_key or column.key
        # Missing values stay last whichever way the column sorts; equal values keep index order (stable sort).
        present = [row for row in rows if row.get(field) not in (None, "")]
        present.sort(key=_sort_key(column), reverse=descending)
        ordered = present + [row for row in rows if row.get(field) in (None, "")]
        self._orders[cache_key] = ordered
        while len(self._orders) > self.CACHE_SIZE:
            self._orders.popitem(last=False)
        return ordered

    def query(self, sort: str = "index", descending: bool = False, filters: dict[str, str] | None = None,
              page: int = 0, page_size: int = 50) -> dict[str, Any]:
        """One page of the table: {"rows", "total" (matching), "page", "pages", ...status}."""
        clean = normalize_filters(filters or {})
        if sort not in COLUMN_BY_KEY:
            raise QueryError(f"unknown sort column {sort!r}; columns: {', '.join(COLUMN_BY_KEY)}")
        if not 1 <= page_size <= 1000:
            raise QueryError(f"page_size must be between 1 and 1000, got {page_size}")
        if page < 0:
            raise QueryError(f"page must be 0 or more, got {page}")
        with self._lock:
            ordered = self._ordered(sort, descending, clean)
            total = len(ordered)
            rows = [public_row(r) for r in ordered[page * page_size:(page + 1) * page_size]]
        pages = max(1, -(-total // page_size))
        return {"rows": rows, "total": total, "page": page, "page_size": page_size, "pages": pages}

    def neighbours(self, ref: str, sort: str = "index", descending: bool = False,
                   filters: dict[str, str] | None = None) -> dict[str, Any]:
        """The refs before and after `ref` in the table as sorted and filtered, and its position."""
        clean = normalize_filters(filters or {})
        if sort not in COLUMN_BY_KEY:
            raise QueryError(f"unknown sort column {sort!r}")
        with self._lock:
            ordered = self._ordered(sort, descending, clean)
            position = next((i for i, r in enumerate(ordered) if r["ref"] == ref), None)
            if position is None:
                return {"prev": None, "next": None, "position": None, "total": len(ordered)}
            prev = ordered[position - 1]["ref"] if position > 0 else None
            nxt = ordered[position + 1]["ref"] if position + 1 < len(ordered) else None
            return {"prev": prev, "next": nxt, "position": position, "total": len(ordered)}


def normalize_filters(filters: dict[str, str]) -> tuple[tuple[str, str], ...]:
    clean = []
    for key, text in filters.items():
        if key not in COLUMN_BY_KEY:
            raise QueryError(f"unknown filter column {key!r}; columns: {', '.join(COLUMN_BY_KEY)}")
        if not isinstance(text, str) or len(text) > 200:
            raise QueryError(f"filter for {key!r} must be a string of at most 200 characters")
        if text.strip():
            clean.append((key, text))
    return tuple(sorted(clean))

