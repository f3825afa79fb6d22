"""One recorded episode as a row: where it is, what ran, how long, and its effective outcome.

The review table lists these rows and the reports count them, so an outcome means the same in both. A row's
automatic outcome follows `outcomes.auto_outcome`; `apply_score` lays a manual score from the score log over it.
A clip (`clips`) gets no automatic outcome and carries `clip_of`, so it is never counted as an evaluation run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.edits import EditLogs, Records, episode_uid
from positronic_core.dataset.reader import Episode, read_meta
from positronic_core.dataset.scalars import read_scalar_file
from positronic_core.dataset.statics import load_statics
from positronic_core.runs.clips import clip_label
from positronic_core.runs.outcomes import auto_outcome, credit, policy_identity, recorded_items, seed_of
from positronic_core.runs.score_log import Score, score_key
from positronic_core.runs.vocabulary import PROGRESS_SIGNAL, REVIEW_SCORED_TS_NS, highest_stage


def relative_name(path: Path, root: Path) -> str:
    """`path` relative to `root` as a forward-slash name; "." for the root itself."""
    rel = path.relative_to(root).as_posix()
    return "." if rel in ("", ".") else rel


def read_row(dataset_root: Path, episode_path: Path, episode_id: int, dataset_label: str,
             ref: str, edit_logs: EditLogs | None = None, shared_edits: list[Records] | None = None) -> dict[str, Any]:
    """The row of one finished episode, without a manual score (see `apply_score`).

    `dataset_label` and `ref` name the dataset and the episode as the caller lists them (relative to the directory
    it was asked to read). The `shared_edits` logs (`EditLogs.shared`; default: the dataset root's) and the
    episode's own are applied: their statics count as recorded ones, and `dropped` says whether they drop it."""
    recorded = load_statics(episode_path / layout.STATIC_FILE)
    meta = read_meta(episode_path)
    uid = episode_uid(meta)
    edit_logs = edit_logs or EditLogs()
    shared = shared_edits if shared_edits is not None else edit_logs.shared([Path(dataset_root)])
    edits = edit_logs.edits(uid, episode_path, shared)
    static = edits.apply(recorded)
    duration_ns = meta.get("duration_ns")
    if not isinstance(duration_ns, int):
        # Upstream 0.2.1 writes it too; 0.4.x and older recordings need their timestamps read.
        episode = Episode(episode_path, episode_id)
        duration_ns = episode.duration_ns
        episode.close()
    created = meta.get("created_ts_ns")
    created = created if isinstance(created, int) else None
    clip_of = clip_label(static)
    outcome, source, mode = (None, "", "") if clip_of else auto_outcome(static, episode_path)
    successful, total = recorded_items(static)
    final = static.get("eval.final_stacking_success")
    task = static.get("task")
    row: dict[str, Any] = {
        "index": 0,
        "ref": ref,
        "key": score_key(meta, episode_path, dataset_root),
        "uid": uid,
        "dropped": edits.dropped,
        "dataset": dataset_label,
        "episode_id": episode_id,
        "created_ts_ns": created,
        "start": datetime.fromtimestamp(created / 1e9).strftime("%Y-%m-%d %H:%M:%S") if created else "",
        "duration_s": round(duration_ns / 1e9, 3),
        "task": task if isinstance(task, str) else "" if task is None else str(task),
        **policy_identity(static),
        "seed": seed_of(static),
        "clip_of": clip_of,
        "auto_outcome": outcome,
        "auto_source": source,
        "auto_failure_mode": mode,
        "auto_items": [successful, total],
        "auto_notes": static["eval.notes"] if isinstance(static.get("eval.notes"), str) else "",
        "final_stacking": float(final) if isinstance(final, (int, float)) and not isinstance(final, bool) else None,
        "progress": progress_stage(episode_path),
        "auto_overrides_score": _verdict_edited_after_review(edits.outcome_records),
    }
    apply_score(row, None)
    return row


def _verdict_edited_after_review(outcome_records: list[dict[str, Any]]) -> bool:
    """Whether someone else (0.4.x's tools) set `eval.outcome` by an edit after our review page last did."""
    ours = [REVIEW_SCORED_TS_NS in data for data in outcome_records]
    return any(ours) and not ours[-1]


def progress_stage(episode_path: Path) -> str:
    """The highest stage an operator marked on 0.4.x's progress ladder (`progress.state`); "" if none."""
    path = layout.scalar_file(episode_path, PROGRESS_SIGNAL)
    if not path.exists():
        return ""
    return highest_stage(read_scalar_file(path)[1])


def apply_score(row: dict[str, Any], score: Score | None) -> None:
    """Set a row's effective outcome: the manual score when there is one (and it is not a cleared score), unless a
    later edit log verdict from upstream's tools replaced it."""
    manual = score is not None and score.outcome is not None and not row["auto_overrides_score"]
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
    # One format for every row (items, when counted, are in items_successful / items_total).
    row["score_text"] = "" if value is None else f"{value:.2f}"


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row as clients see it: the recorded verdict under `auto_outcome`, the other `auto_*` inputs left out."""
    return {k: v for k, v in row.items() if not k.startswith("auto_") and k != "final_stacking"} | {
        "auto_outcome": row["auto_outcome"]}
