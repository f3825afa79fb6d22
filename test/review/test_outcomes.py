"""Outcome precedence and policy identity, the facts shared by the review table and the reports."""

from __future__ import annotations

from pathlib import Path

from positronic_core.dataset import DatasetWriter
from positronic_core.runs.outcomes import auto_outcome, credit, policy_identity, seed_of


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
