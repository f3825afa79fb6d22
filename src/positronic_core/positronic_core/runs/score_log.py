"""Manual scores, kept beside the recordings in `<dataset root>/scores.jsonl` without touching them.

One JSON object per line, appended, never rewritten:

    {"v": 1, "ep": "<key>", "ts_ns": 1795..., "outcome": "success" | "partial" | "failure" | null,
     "items_successful": 2 | null, "items_total": 3 | null, "failure_mode": "dropped cube", "notes": "..."}

`ep` is the episode's `meta.json` uid when it has one (it survives copying or renumbering the dataset), else the
episode directory relative to the dataset root ("000000000000/000000000007"). For each episode the last line wins;
`outcome: null` clears a score. Signals, statics and meta are never rewritten.

Writers append a whole record with one `write(2)` on an `O_APPEND` descriptor while holding an exclusive `flock`,
so concurrent writers (threads, or several servers on one dataset) interleave whole lines and lose nothing. A
line torn by a crash is skipped on reading (with a warning), and the next writer starts a fresh line after it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from positronic_core.runs.outcomes import OUTCOMES

SCORE_FILE = "scores.jsonl"
RECORD_VERSION = 1
MAX_NOTES_CHARS = 10_000
MAX_FAILURE_MODE_CHARS = 200
MAX_ITEMS = 1_000_000
FIELDS = ("outcome", "items_successful", "items_total", "failure_mode", "notes")

_log = logging.getLogger(__name__)


def score_key(meta: dict[str, Any], episode_path: Path, dataset_root: Path) -> str:
    """The key an episode's scores are logged under: its `meta.json` uid, else its path in the dataset."""
    uid = meta.get("uid")
    return uid if isinstance(uid, str) and uid else episode_path.relative_to(dataset_root).as_posix()


class ScoreError(ValueError):
    """A score that cannot be stored; the message says which field is wrong and why."""


@dataclass(frozen=True)
class Score:
    outcome: str | None
    items_successful: int | None = None
    items_total: int | None = None
    failure_mode: str = ""
    notes: str = ""
    ts_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "items_successful": self.items_successful,
                "items_total": self.items_total, "failure_mode": self.failure_mode, "notes": self.notes,
                "ts_ns": self.ts_ns}


def parse_score(body: Any) -> Score:
    """Validate a score as sent by a client (a JSON object with the FIELDS, all optional but `outcome`)."""
    if not isinstance(body, dict):
        raise ScoreError(f"a score must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ScoreError(f"unknown score field(s) {', '.join(map(repr, unknown))}; known: {', '.join(FIELDS)}")
    if "outcome" not in body:
        raise ScoreError("missing field 'outcome' (one of success, partial, failure, or null to clear)")
    outcome = body["outcome"]
    if outcome is not None and outcome not in OUTCOMES:
        raise ScoreError(f"outcome must be one of {', '.join(OUTCOMES)} or null, got {outcome!r}")
    successful = _count(body.get("items_successful"), "items_successful")
    total = _count(body.get("items_total"), "items_total")
    if (successful is None) != (total is None):
        raise ScoreError("give both items_successful and items_total, or neither")
    if total is not None and successful is not None:
        if total == 0:
            raise ScoreError("items_total must be at least 1")
        if successful > total:
            raise ScoreError(f"items_successful ({successful}) exceeds items_total ({total})")
    failure_mode = _text(body.get("failure_mode"), "failure_mode", MAX_FAILURE_MODE_CHARS, multiline=False)
    notes = _text(body.get("notes"), "notes", MAX_NOTES_CHARS, multiline=True)
    return Score(outcome, successful, total, failure_mode.strip(), notes)


def _count(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoreError(f"{name} must be a whole number or null, got {value!r}")
    if not 0 <= value <= MAX_ITEMS:
        raise ScoreError(f"{name} must be between 0 and {MAX_ITEMS}, got {value}")
    return value


def _text(value: Any, name: str, limit: int, multiline: bool) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScoreError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ScoreError(f"{name} is {len(value)} characters; at most {limit} are kept")
    allowed = {"\n", "\t"} if multiline else set()
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and char not in allowed:
            raise ScoreError(f"{name} contains control character U+{ord(char):04X}")
    return value


class ScoreLog:
    """The score log of one dataset root: latest score per episode key, kept in step with the file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / SCORE_FILE
        self._lock = threading.Lock()
        self._latest: dict[str, Score] = {}
        self._offset = 0
        self._inode: int | None = None
        self.skipped_lines = 0

    def latest(self, key: str) -> Score | None:
        with self._lock:
            return self._latest.get(key)

    def all_latest(self) -> dict[str, Score]:
        with self._lock:
            return dict(self._latest)

    def history(self, key: str) -> list[Score]:
        """Every score recorded for `key`, oldest first (read from the file)."""
        found = []
        for record in self._records(0)[0]:
            if record.get("ep") == key:
                found.append(_score_from_record(record))
        return found

    def refresh(self) -> set[str]:
        """Read lines appended since the last call (by anyone); returns the keys whose latest score changed."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                return set()
            if stat.st_ino != self._inode or stat.st_size < self._offset:
                self._latest.clear()
                self._offset = 0
                self._inode = stat.st_ino
            if stat.st_size == self._offset:
                return set()
            records, self._offset = self._records(self._offset)
            changed = set()
            for record in records:
                key = record["ep"]
                self._latest[key] = _score_from_record(record)
                changed.add(key)
            return changed

    def _records(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Complete records from `offset` on, and the offset just past the last complete line."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1  # a final line without newline may still be being written
        records = []
        for number, line in enumerate(data[:end].splitlines()):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("ep"), str):
                    raise ValueError("not a score record")
                _score_from_record(record)
            except (ValueError, ScoreError) as exc:
                self.skipped_lines += 1
                _log.warning("%s: skipping unreadable line at byte %d+%d: %s", self.path, offset, number, exc)
                continue
            records.append(record)
        return records, offset + end

    def append(self, key: str, score: Score, extra: dict[str, Any] | None = None) -> Score:
        """Append `score` for `key` as one line and return it with its timestamp."""
        if not isinstance(key, str) or not key or "\n" in key:
            raise ScoreError(f"bad episode key {key!r}")
        stamped = Score(score.outcome, score.items_successful, score.items_total, score.failure_mode, score.notes,
                        time.time_ns())
        record = {"v": RECORD_VERSION, "ep": key, **stamped.to_json(), **(extra or {})}
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    size = os.fstat(fd).st_size
                    if size and _last_byte(self.path, size) != b"\n":
                        line = b"\n" + line  # start after a line torn by a crashed writer
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
                    os.fsync(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
            # The line itself is read (and reported as a change) by the next refresh(), like anyone else's.
            self._latest[key] = stamped
        return stamped


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)


def _score_from_record(record: dict[str, Any]) -> Score:
    parsed = parse_score({k: record.get(k) for k in FIELDS})
    ts = record.get("ts_ns")
    return Score(parsed.outcome, parsed.items_successful, parsed.items_total, parsed.failure_mode, parsed.notes,
                 ts if isinstance(ts, int) else 0)
