"""Our outcome words and upstream 0.4.x's operator verdicts, both ways (README: "Scores and upstream verdicts").

0.4.x records an operator's verdict as the static `eval.outcome` (`eval_vocabulary.outcome.Outcome`), with optional
item counts `eval.successful_items` / `eval.total_items`, and marks progress as the `progress.state` signal (a
ladder of stage codes, the highest reached counts). We score success / partial / failure (`score_log`).

Reading a 0.4.x verdict:

    Success                              -> success (partial when 0 < successful items < total)
    Fail, Ran out of time, Safety, System -> failure, with the verdict as failure mode ("" for Fail)
                                            (partial when some items succeeded)
    Discarded                             -> no outcome: left out of success rates, like an unscored episode
    UNSCORED, absent                      -> no verdict: the outcome comes from what else was recorded
                                            (`runs.outcomes`), as 0.4.x reads an absent verdict as UNSCORED

Writing our score for 0.4.x (`verdict_data`, appended as a `set_static` edit, see `runs.score_edits`):

    success -> Success
    partial -> Fail           0.4.x has no partial verdict, so the credit travels in the item counts
    failure -> Fail, or Ran out of time / Safety / System when the failure mode is one of those words

Item counts always go with the verdict so the credit survives the trip: the counts scored, else 1/1 for success,
1/2 for partial (our credit of a partial without counts) and 0/1 for failure. Reading them back gives the same
outcome and credit. Our own words, failure mode, notes and the score's time go along under `review.*`.
"""

from __future__ import annotations

from typing import Any

OUTCOME = "eval.outcome"
SUCCESSFUL_ITEMS = "eval.successful_items"
TOTAL_ITEMS = "eval.total_items"
PROGRESS_SIGNAL = "progress.state"

SUCCESS = "Success"
FAIL = "Fail"
FAILURE_VERDICTS = (FAIL, "Ran out of time", "Safety", "System")
UNSCORED = "UNSCORED"
DISCARDED = "Discarded"
NOT_SCORED = (UNSCORED, DISCARDED)
# The ladder, lowest first (eval_vocabulary.progress.Stage), and how a row names each stage.
STAGES = ("floating", "reaching", "contact", "control", "at-target")

# Keys our review page adds beside the verdict; `REVIEW_SCORED_TS_NS` marks an edit as ours.
REVIEW_OUTCOME = "review.outcome"
REVIEW_FAILURE_MODE = "review.failure_mode"
REVIEW_NOTES = "review.notes"
REVIEW_SCORED_TS_NS = "review.scored_ts_ns"

_DEFAULT_ITEMS = {"success": (1, 1), "partial": (1, 2), "failure": (0, 1)}


def read_verdict(verdict: str, successful: int | None, total: int | None) -> tuple[str | None, str]:
    """(our outcome or None, failure mode) for an `eval.outcome` text, ours ("Partial") or 0.4.x's."""
    text = verdict.strip()
    word = text.lower()
    if word in (v.lower() for v in NOT_SCORED):
        return None, ""
    some = successful is not None and bool(total) and 0 < successful
    if word == "success":
        return ("partial" if some and successful < total else "success"), ""
    if word == "partial":
        return "partial", ""
    mode = "" if word in ("fail", "failure") else text
    return ("partial" if some else "failure"), mode


def verdict_data(outcome: str, successful: int | None, total: int | None, failure_mode: str, notes: str,
                 scored_ts_ns: int) -> dict[str, Any]:
    """The statics a `set_static` edit carries so 0.4.x reads our score as its verdict (module docstring)."""
    if outcome == "success":
        verdict = SUCCESS
    else:
        named = {v.lower(): v for v in FAILURE_VERDICTS}
        verdict = named.get(failure_mode.strip().lower(), FAIL) if outcome == "failure" else FAIL
    if successful is None or total is None:
        successful, total = _DEFAULT_ITEMS[outcome]
    return {OUTCOME: verdict, SUCCESSFUL_ITEMS: successful, TOTAL_ITEMS: total, REVIEW_OUTCOME: outcome,
            REVIEW_FAILURE_MODE: failure_mode, REVIEW_NOTES: notes, REVIEW_SCORED_TS_NS: scored_ts_ns}


def cleared_data(recorded: dict[str, Any], current: dict[str, Any], scored_ts_ns: int) -> dict[str, Any]:
    """The edit that withdraws our score: the verdict and counts as recorded (UNSCORED when none was)."""
    data: dict[str, Any] = {OUTCOME: recorded.get(OUTCOME, UNSCORED), REVIEW_OUTCOME: None,
                            REVIEW_SCORED_TS_NS: scored_ts_ns}
    for key in (SUCCESSFUL_ITEMS, TOTAL_ITEMS):
        if key in recorded or key in current:
            data[key] = recorded.get(key)
    return data


def highest_stage(codes: Any) -> str:
    """The highest ladder stage among recorded `progress.state` codes; "" when none is a stage."""
    reached = [STAGES.index(code) for code in codes if isinstance(code, str) and code in STAGES]
    return STAGES[max(reached)] if reached else ""
