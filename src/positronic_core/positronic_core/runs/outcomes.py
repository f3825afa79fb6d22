"""What an episode's outcome is, and which policy produced it: the facts every report and the review table share.

Outcome precedence (the first that applies wins):

1. a manual score from the dataset's score log (`runs.score_log`), latest entry;
2. an operator verdict recorded with the episode or set by an edit log: `eval.outcome` (our and upstream's eval
   consoles: "Success", "Partial", or a failure reason such as "Stalled"; 0.4.x's vocabulary is read as
   `vocabulary` says: "Discarded" gives no outcome, "UNSCORED" counts as no verdict; with `eval.successful_items` <
   `eval.total_items` a non-zero count is partial), a trial 0.4.x's harness ended on its time budget
   (`eval.terminated` false: failure, "Ran out of time"), or `eval.success` (upstream's env verdict);
3. the simulator's verdict: `eval.auto_success`, written at recording time, else computed from the recorded
   `stacking_success` signal (success = at least 0.95 held for 0.5 s, `stacking_task.stacking_outcome`).

Outcomes are "success", "partial" and "failure"; an episode none of these covers has no outcome and is left out
of success rates (reported as unscored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.runs import vocabulary
from positronic_core.stacking_task import stacking_outcome

OUTCOMES = ("success", "partial", "failure")
STACKING_SIGNAL = "stacking_success"


def auto_outcome(static: dict[str, Any], episode_path: Path | None = None) -> tuple[str | None, str, str]:
    """(outcome or None, where it came from, failure mode) from what was recorded with the episode.

    Reads the `stacking_success` signal only when no verdict is in the statics and `episode_path` is given.
    """
    verdict = static.get(vocabulary.OUTCOME)
    if isinstance(verdict, str) and verdict.strip() and verdict.strip() != vocabulary.UNSCORED:
        outcome, mode = vocabulary.read_verdict(verdict, *_items(static))
        return outcome, vocabulary.OUTCOME, mode
    if static.get("eval.ended_by") == "operator":
        # A person stopped the run without a verdict (keyboard `p`); the simulator's verdict judged a cut-short run.
        return None, "eval.ended_by", ""
    if static.get("eval.terminated") is False:
        # 0.4.x's harness ended the trial on its time budget (its labeler reads this as ran out of time).
        return "failure", "eval.terminated", "Ran out of time"
    for key in ("eval.success", "eval.auto_success"):
        value = static.get(key)
        if isinstance(value, bool):
            return ("success" if value else "failure"), key, ""
    if episode_path is not None:
        stacking = stacking_outcome_from_file(episode_path)
        if stacking is not None:
            return ("success" if stacking else "failure"), STACKING_SIGNAL, ""
    return None, "", ""


def stacking_outcome_from_file(episode_path: Path) -> bool | None:
    """The sim verdict from `stacking_success.parquet`, or None when the episode has no such signal."""
    path = layout.scalar_file(episode_path, STACKING_SIGNAL)
    if not path.exists():
        return None
    from positronic_core.dataset.scalars import read_scalar_file

    timestamps, values = read_scalar_file(path)
    if len(timestamps) == 0 or values.dtype == object:
        return None
    start = int(timestamps[0])
    history = [((int(t) - start) / 1e9, float(v)) for t, v in zip(timestamps, values, strict=True)]
    return stacking_outcome(history)


def recorded_items(static: dict[str, Any]) -> tuple[int | None, int | None]:
    """(successful, total) items as an operator recorded them with the episode, if at all."""
    return _items(static)


def _items(static: dict[str, Any]) -> tuple[int | None, int | None]:
    successful, total = static.get("eval.successful_items"), static.get("eval.total_items")
    ok = isinstance(successful, int) and not isinstance(successful, bool)
    ok = ok and isinstance(total, int) and not isinstance(total, bool) and 0 <= successful <= total
    return (successful, total) if ok else (None, None)


def credit(outcome: str | None, successful: int | None, total: int | None) -> float | None:
    """Partial credit in [0, 1]: the item ratio when items were counted, else 1 / 0.5 / 0 for success / partial /
    failure; None without an outcome."""
    if outcome is None:
        return None
    if successful is not None and total:
        return successful / total
    return {"success": 1.0, "partial": 0.5, "failure": 0.0}.get(outcome)


def policy_identity(static: dict[str, Any]) -> dict[str, str]:
    """{policy, model, checkpoint} labels from the `inference.policy.*` statics (ours and upstream's).

    policy: `inference.policy.type` (remote, act, scripted, ...). model: what the server says it runs
    (`inference.policy.server.type|name`), else the local policy's name or type. checkpoint: the server's
    `checkpoint_id`, else the model id the client asked for, else the step parsed from a checkpoint path.
    """
    policy = _text(static.get("inference.policy.type"))
    model = _first_text(static, "inference.policy.server.type", "inference.policy.server.name",
                        "inference.policy.name") or policy
    checkpoint = _first_text(static, "inference.policy.server.checkpoint_id", "inference.policy.checkpoint_id",
                             "inference.policy.model_id", "inference.policy.checkpoint")
    if not checkpoint:
        path = _first_text(static, "inference.policy.server.checkpoint_path", "inference.policy.checkpoint_path")
        checkpoint = _checkpoint_from_path(path)
    return {"policy": policy, "model": model, "checkpoint": checkpoint}


def _checkpoint_from_path(path: str) -> str:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        return ""
    if "checkpoints" in parts:
        index = len(parts) - 1 - parts[::-1].index("checkpoints")
        if index + 1 < len(parts):
            return parts[index + 1]
    if parts[-1] == "pretrained_model" and len(parts) >= 2:
        return parts[-2]
    return parts[-1].removeprefix("checkpoint-")


def _first_text(static: dict[str, Any], *keys: str) -> str:
    for key in keys:
        text = _text(static.get(key))
        if text:
            return text
    return ""


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bytes)):
        return ""
    return str(value)


def seed_of(static: dict[str, Any]) -> int | None:
    """The scene seed an episode ran with (`simulation.seed`, or upstream HEAD's `eval.seed`)."""
    for key in ("simulation.seed", "eval.seed"):
        value = static.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
