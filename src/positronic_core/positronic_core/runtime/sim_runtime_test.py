"""Which verdict an episode's line and the run's summary show: the operator's wins, the simulator's stays visible as
the automatic one, and an episode a person cut short without a verdict is not counted."""

from __future__ import annotations

import pytest

from positronic_core.runtime.control_loop import LoopStats
from positronic_core.runtime.sim_runtime import EpisodeSummary, OperatorVerdict, SimRuntime


def summary(index: int = 0, *, saved: bool = True, success: bool | None = False,
            operator: OperatorVerdict | None = None, stopped_by_operator: bool = False) -> EpisodeSummary:
    return EpisodeSummary(index, seed=index, task="stack", saved=saved, success=success,
                          final_stacking=None if success is None else 0.5, duration_s=2.0, stats=LoopStats(),
                          path=None, operator=operator, stopped_by_operator=stopped_by_operator)


@pytest.mark.parametrize(
    "episode, verdict, shown",
    [
        (summary(success=True), "success", ": success stacking=0.50 "),
        (summary(success=False), "failure", ": failure stacking=0.50 "),
        (summary(success=None), None, ": n/a duration="),
        (summary(success=False, operator=OperatorVerdict("success", "Success")), "success",
         ": success (operator; auto: failure) stacking=0.50 "),
        (summary(success=None, operator=OperatorVerdict("failure", "Stalled")), "failure",
         ": failure (operator: Stalled; auto: n/a) duration="),
        (summary(success=True, operator=OperatorVerdict("partial", "Success")), "partial",
         ": partial (operator: Success; auto: success) stacking=0.50 "),
        (summary(success=False, stopped_by_operator=True), None,
         ": no verdict (stopped by operator; auto: failure) stacking=0.50 "),
        (summary(success=True, stopped_by_operator=True), None,
         ": no verdict (stopped by operator; auto: success) stacking=0.50 "),
    ],
)
def test_the_line_shows_the_verdict_that_counts_and_the_automatic_one(episode, verdict, shown):
    assert episode.verdict == verdict
    assert shown in episode.line()


def test_the_run_summary_counts_operator_verdicts_and_leaves_cut_short_runs_out():
    runtime = SimRuntime(robot=None, policy=None, output_dir=None)
    assert runtime.summary() == "no episodes run"
    runtime.completed = [
        summary(0, success=True),
        summary(1, success=False, operator=OperatorVerdict("success", "Success")),
        summary(2, success=True, operator=OperatorVerdict("failure", "Fail")),
        summary(3, success=False, operator=OperatorVerdict("partial", "Partial")),
        summary(4, success=False, stopped_by_operator=True),
        summary(5, success=False, saved=False, stopped_by_operator=True),
        summary(6, success=True, saved=False),
    ]
    assert runtime.summary() == (
        "7 episodes (not recorded: no --output_dir); success 2/4 (50%, 1 partial, 3 judged by the operator); "
        "1 stopped by the operator without a verdict (score them in the review server); "
        "idle ticks after first action: 0")


def test_automatic_verdicts_alone_read_as_before():
    runtime = SimRuntime(robot=None, policy=None, output_dir=None)
    runtime.completed = [summary(0, success=True), summary(1, success=False), summary(2, success=None)]
    assert runtime.summary() == ("3 episodes (not recorded: no --output_dir); success 1/2 (50%); "
                                 "idle ticks after first action: 0")


def test_an_interrupted_episode_has_no_verdict_and_is_counted_apart():
    runtime = SimRuntime(robot=None, policy=None, output_dir=None)
    cut = EpisodeSummary(1, seed=1, task="stack", saved=False, success=None, final_stacking=None, duration_s=0.7,
                         stats=LoopStats(), path=None, interrupted="interrupted")
    runtime.completed = [summary(0, success=True), cut]
    assert cut.verdict is None
    assert cut.line() == "episode 1 seed=1: interrupted at 0.7s, discarded (nothing recorded)"
    assert runtime.summary() == ("1 episode (not recorded: no --output_dir); 1 interrupted episode discarded; "
                                 "success 1/1 (100%); idle ticks after first action: 0")
