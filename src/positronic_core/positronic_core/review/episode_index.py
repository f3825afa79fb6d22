"""The episode table behind the review server: one row per episode of every dataset under the served directory.

Rows are built in a background thread (statics, meta and the outcome of each episode), so the table answers while
indexing goes on and `status()` reports how far it got. Queries (filter, sort, page) run on the rows in memory;
a sorted and filtered order is cached until the rows change, so paging through a 10,000-episode table costs a
slice. Scores come from each dataset's score log and are re-read whenever the log grows (any writer).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.reader import Episode
from positronic_core.dataset.statics import load_statics
from positronic_core.evaluate.outcomes import auto_outcome, credit, policy_identity, recorded_items, seed_of
from positronic_core.review.discovery import find_dataset_roots
from positronic_core.review.score_log import Score, ScoreLog

_log = logging.getLogger(__name__)


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


def relative_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return "." if rel in ("", ".") else rel


def read_row(dataset_root: Path, episode_path: Path, episode_id: int, dataset_label: str,
             ref: str) -> dict[str, Any]:
    """The table row of one finished episode (score fields unset; see `apply_score`)."""
    static = load_statics(episode_path / layout.STATIC_FILE)
    meta_path = episode_path / layout.META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    if not isinstance(meta, dict):
        meta = {}
    duration_ns = meta.get("duration_ns")
    if not isinstance(duration_ns, int):
        # Upstream 0.2.1 writes it too; older recordings need their timestamps read.
        episode = Episode(episode_path, episode_id)
        duration_ns = episode.duration_ns
        episode.close()
    created = meta.get("created_ts_ns")
    created = created if isinstance(created, int) else None
    uid = meta.get("uid")
    key = uid if isinstance(uid, str) and uid else episode_path.relative_to(dataset_root).as_posix()
    outcome, source, mode = auto_outcome(static, episode_path)
    successful, total = recorded_items(static)
    final = static.get("eval.final_stacking_success")
    task = static.get("task")
    row: dict[str, Any] = {
        "index": 0,
        "ref": ref,
        "key": key,
        "dataset": dataset_label,
        "episode_id": episode_id,
        "created_ts_ns": created,
        "start": datetime.fromtimestamp(created / 1e9).strftime("%Y-%m-%d %H:%M:%S") if created else "",
        "duration_s": round(duration_ns / 1e9, 3),
        "task": task if isinstance(task, str) else "" if task is None else str(task),
        **policy_identity(static),
        "seed": seed_of(static),
        "auto_outcome": outcome,
        "auto_source": source,
        "auto_failure_mode": mode,
        "auto_items": [successful, total],
        "auto_notes": static["eval.notes"] if isinstance(static.get("eval.notes"), str) else "",
        "final_stacking": float(final) if isinstance(final, (int, float)) and not isinstance(final, bool) else None,
    }
    apply_score(row, None)
    return row


def apply_score(row: dict[str, Any], score: Score | None) -> None:
    """Set a row's effective outcome: the manual score when there is one (and it is not a cleared score)."""
    manual = score is not None and score.outcome is not None
    if manual:
        row["outcome"], row["outcome_source"] = score.outcome, "manual"
        successful, total = score.items_successful, score.items_total
        row["failure_mode"], row["notes"], row["scored_ts_ns"] = score.failure_mode, score.notes, score.ts_ns
    else:
        row["outcome"], row["outcome_source"] = row["auto_outcome"] or "", row["auto_source"]
        successful, total = row["auto_items"]
        row["failure_mode"], row["notes"], row["scored_ts_ns"] = row["auto_failure_mode"], row["auto_notes"], None
    row["items_successful"], row["items_total"] = successful, total
    value = credit(row["outcome"] or None, successful, total)
    if not manual and successful is None and row["final_stacking"] is not None:
        value = row["final_stacking"]
    row["score"] = None if value is None else round(value, 4)
    if successful is not None and total:
        row["score_text"] = f"{successful}/{total}"
    else:
        row["score_text"] = "" if value is None else f"{value:.2f}"


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
    """All episodes under `root`; call `start()` to index in the background."""

    CACHE_SIZE = 16

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DatasetError(f"dataset path {self.root} is not a directory")
        self._lock = threading.RLock()
        self._rows: list[dict[str, Any]] = []
        self._refs: dict[str, EpisodeRef] = {}
        self._row_of: dict[str, dict[str, Any]] = {}
        self._by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._logs: dict[Path, ScoreLog] = {}
        self._orders: OrderedDict[tuple, list[dict[str, Any]]] = OrderedDict()
        self._generation = 0
        self._found = 0
        self._loading = True
        self._errors: list[str] = []
        self._started_at = time.monotonic()
        self._finished_at: float | None = None
        self._thread: threading.Thread | None = None
        self._last_refresh = 0.0

    # --- indexing -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._build, name="episode-index", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._loading

    def build(self) -> EpisodeIndex:
        """Index synchronously (for reports and tests)."""
        self._build()
        return self

    def _build(self) -> None:
        try:
            roots = find_dataset_roots(self.root)
            listings = []
            for root in roots:
                episodes = [(i, p) for i, p in layout.episode_dirs(root) if layout.is_finished(p)]
                with self._lock:
                    self._logs[root] = ScoreLog(root)
                    self._found += len(episodes)
                listings.append((root, episodes))
            for root, episodes in listings:
                log = self._logs[root]
                log.refresh()
                batch: list[dict[str, Any]] = []
                for episode_id, path in episodes:
                    row = self._read(root, log, path, episode_id)
                    if row is not None:
                        batch.append(row)
                    if len(batch) >= 250:
                        self._add_rows(batch)
                        batch = []
                        time.sleep(0)  # let request threads in
                self._add_rows(batch)
        except Exception as exc:  # keep serving what was indexed, and say what went wrong
            _log.exception("indexing %s failed", self.root)
            with self._lock:
                self._errors.append(f"indexing stopped: {exc}")
        finally:
            with self._lock:
                self._loading = False
                self._finished_at = time.monotonic()
                self._generation += 1

    def _read(self, root: Path, log: ScoreLog, path: Path, episode_id: int) -> dict[str, Any] | None:
        ref = relative_name(path, self.root)
        try:
            row = read_row(root, path, episode_id, relative_name(root, self.root), ref)
        except (OSError, ValueError, DatasetError) as exc:
            with self._lock:
                self._errors.append(f"{ref}: {exc}")
            _log.warning("skipping episode %s: %s", path, exc)
            return None
        apply_score(row, log.latest(row["key"]))
        row["_ref"] = EpisodeRef(root, log, path)
        return row

    def _add_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._lock:
            for row in rows:
                row["index"] = len(self._rows)
                self._rows.append(row)
                self._refs[row["ref"]] = row.pop("_ref")
                self._row_of[row["ref"]] = row
                self._by_key.setdefault((str(self._refs[row["ref"]].dataset_root), row["key"]), []).append(row)
            self._generation += 1
            self._orders.clear()

    def add_episode(self, dataset_root: Path, episode_path: Path, episode_id: int) -> dict[str, Any]:
        """Index one new episode (a clip just exported) and return its row."""
        dataset_root = Path(dataset_root).resolve()
        with self._lock:
            log = self._logs.get(dataset_root)
            if log is None:
                log = self._logs[dataset_root] = ScoreLog(dataset_root)
                log.refresh()
            self._found += 1
        row = self._read(dataset_root, log, Path(episode_path), episode_id)
        if row is None:
            raise DatasetError(f"the new episode at {episode_path} could not be read")
        self._add_rows([row])
        return self.row(row["ref"]) or row

    # --- state ----------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            end = self._finished_at if self._finished_at is not None else time.monotonic()
            return {"loading": self._loading, "indexed": len(self._rows), "found": self._found,
                    "datasets": [relative_name(r, self.root) for r in self._logs], "root": str(self.root),
                    "errors": self._errors[-20:], "error_count": len(self._errors),
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
        """Pick up lines any writer appended to the score logs since the last look."""
        now = time.monotonic()
        if now - self._last_refresh < min_interval_s:
            return
        self._last_refresh = now
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
        rows = self._rows
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


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("auto_") and k != "final_stacking"} | {
        "auto_outcome": row["auto_outcome"]}
