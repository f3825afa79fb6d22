"""Outcome precedence and policy identity, the facts shared by the review table and the reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from positronic_core.dataset import DatasetWriter
from positronic_core.runs.outcomes import auto_outcome, credit, policy_identity, seed_of
from positronic_core.runs.vocabulary import REVIEW_OUTCOME, REVIEW_SCORED_TS_NS, cleared_data, verdict_data


def test_operator_verdicts_come_first() -> None:
    assert auto_outcome({"eval.outcome": "Success", "eval.auto_success": False}) == ("success", "eval.outcome", "")
    assert auto_outcome({"eval.outcome": "Stalled"}) == ("failure", "eval.outcome", "Stalled")
    partial = {"eval.outcome": "Ran out of time", "eval.successful_items": 2, "eval.total_items": 5}
    assert auto_outcome(partial) == ("partial", "eval.outcome", "Ran out of time")
    assert auto_outcome({"eval.outcome": "Success", "eval.successful_items": 3, "eval.total_items": 4})[0] == "partial"
    assert auto_outcome({"eval.outcome": "Partial", "eval.successful_items": 1, "eval.total_items": 3})[0] == "partial"
    assert auto_outcome({"eval.success": True}) == ("success", "eval.success", "")
    assert auto_outcome({"eval.auto_success": False}) == ("failure", "eval.auto_success", "")
    assert auto_outcome({}) == (None, "", "")


def test_a_run_the_operator_stopped_without_a_verdict_has_none() -> None:
    assert auto_outcome({"eval.auto_success": False, "eval.ended_by": "operator"}) == (None, "eval.ended_by", "")
    assert auto_outcome({"eval.outcome": "Success", "eval.ended_by": "operator"})[0] == "success"


def _episode_with_stacking(root: Path, values: list[float], hz: float = 10.0) -> Path:
    with DatasetWriter(root).new_episode() as episode:
        for i, value in enumerate(values):
            episode.append("stacking_success", value, int(i * 1e9 / hz))
    return episode.path


def test_sim_verdict_from_the_stacking_signal(tmp_path: Path) -> None:
    held = _episode_with_stacking(tmp_path, [0.0, 0.5, 0.96, 0.97, 0.99, 1.0, 1.0, 1.0, 0.2])  # 0.5 s at >= 0.95
    short = _episode_with_stacking(tmp_path, [0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0])  # only 0.3 s at a time
    assert auto_outcome({}, held) == ("success", "stacking_success", "")
    assert auto_outcome({}, short) == ("failure", "stacking_success", "")
    assert auto_outcome({"eval.auto_success": False}, held)[0] == "failure"  # a recorded verdict wins


def test_credit() -> None:
    assert credit("success", None, None) == 1.0
    assert credit("partial", None, None) == 0.5
    assert credit("partial", 1, 4) == 0.25
    assert credit(None, 1, 2) is None


def test_policy_identity_for_remote_local_and_upstream_statics() -> None:
    remote = {"inference.policy.type": "remote", "inference.policy.model_id": "5000",
              "inference.policy.server.type": "lerobot_act", "inference.policy.server.checkpoint_id": "6000"}
    assert policy_identity(remote) == {"policy": "remote", "model": "lerobot_act", "checkpoint": "6000"}
    asked = {"inference.policy.type": "remote", "inference.policy.model_id": "5000"}
    assert policy_identity(asked)["checkpoint"] == "5000"
    upstream_act = {"inference.policy.type": "act", "inference.policy.checkpoint_path": "/runs/x/checkpoints/030000/"
                    "pretrained_model"}
    assert policy_identity(upstream_act) == {"policy": "act", "model": "act", "checkpoint": "030000"}
    scripted = {"inference.policy.type": "scripted", "inference.policy.name": "stack_cubes_expert"}
    assert policy_identity(scripted) == {"policy": "scripted", "model": "stack_cubes_expert", "checkpoint": ""}
    assert policy_identity({}) == {"policy": "", "model": "", "checkpoint": ""}


def test_seed() -> None:
    assert seed_of({"simulation.seed": 4}) == 4
    assert seed_of({"eval.seed": 7}) == 7
    assert seed_of({"simulation.seed": True}) is None


def test_upstream_0_4_verdicts_read_in_our_words() -> None:
    for verdict, mode in (("Fail", ""), ("Ran out of time", "Ran out of time"), ("Safety", "Safety"),
                          ("System", "System")):
        assert auto_outcome({"eval.outcome": verdict}) == ("failure", "eval.outcome", mode)
    assert auto_outcome({"eval.outcome": "Discarded", "eval.auto_success": True}) == (None, "eval.outcome", "")
    # UNSCORED is 0.4.x's word for no verdict: whatever else was recorded decides.
    assert auto_outcome({"eval.outcome": "UNSCORED", "eval.auto_success": True}) == ("success", "eval.auto_success", "")
    assert auto_outcome({"eval.terminated": False, "eval.success": True}) == (
        "failure", "eval.terminated", "Ran out of time")
    assert auto_outcome({"eval.terminated": True, "eval.success": True}) == ("success", "eval.success", "")


@pytest.mark.parametrize("score", [("success", None, None, ""), ("partial", None, None, ""),
                                   ("failure", None, None, "dropped cube"), ("failure", None, None, "SAFETY"),
                                   ("partial", 2, 5, ""), ("failure", 1, 4, "system"), ("success", 3, 3, "")])
def test_our_scores_survive_the_trip_through_0_4_verdicts(score) -> None:
    outcome, successful, total, mode = score
    data = verdict_data(outcome, successful, total, mode, "notes", 123)
    assert data[REVIEW_SCORED_TS_NS] == 123 and data[REVIEW_OUTCOME] == outcome
    assert data["eval.outcome"] in ("Success", "Fail", "Ran out of time", "Safety", "System")
    read, _, read_mode = auto_outcome(data)
    read_items = (data["eval.successful_items"], data["eval.total_items"])
    # Partial credit is kept: the same credit back, and the same word unless the items say otherwise.
    assert credit(read, *read_items) == pytest.approx(credit(outcome, successful, total))
    if successful is None:
        assert read == outcome
    if outcome == "failure" and mode.lower() in ("safety", "system"):
        assert read_mode == mode.capitalize() and data["eval.outcome"] == mode.capitalize()


def test_clearing_a_score_restores_the_recorded_verdict() -> None:
    recorded = {"eval.outcome": "Safety"}
    assert cleared_data(recorded, {**recorded, "eval.successful_items": 1, "eval.total_items": 2}, 5) == {
        "eval.outcome": "Safety", "eval.successful_items": None, "eval.total_items": None, REVIEW_OUTCOME: None,
        REVIEW_SCORED_TS_NS: 5}
    assert cleared_data({}, {}, 5)["eval.outcome"] == "UNSCORED"
