"""The runner's submission and stopping logic, on a pool that runs tasks in this process from a table of
outcomes (the real pools and episodes are tested end to end in test/system/test_sweep.py)."""

from __future__ import annotations

import io

from positronic_core.evaluate.sweep.plan import EpisodeSettings, ModelSource, SweepSpec, Task, TaskResult
from positronic_core.evaluate.sweep.pools import Finished
from positronic_core.evaluate.sweep.runner import StoppingRule, run_sweep


class TablePool:
    """Finishes its oldest task at each wait, with the outcome `decide(task)` gives."""

    def __init__(self, decide, workers: int = 2) -> None:
        self.decide = decide
        self.workers = workers
        self.submitted: list[Task] = []
        self._running: list[Task] = []

    def submit(self, task: Task) -> None:
        self.submitted.append(task)
        self._running.append(task)

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self) -> list[Finished]:
        task = self._running.pop(0)
        return [Finished(task, self.decide(task))]

    def close(self) -> None:
        pass


def _spec(tmp_path) -> SweepSpec:
    return SweepSpec(tmp_path, ModelSource(server=("127.0.0.1", 1)), EpisodeSettings())


def _a_always_wins(task: Task) -> TaskResult:
    won = task.model == "a"
    return TaskResult(task, success=won, progress=float(won))


def test_the_fixed_plan_runs_every_task_seed_by_seed(tmp_path):
    pool = TablePool(_a_always_wins)
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(3), lambda: pool, io.StringIO())
    assert pool.submitted == [Task(m, s) for s in range(3) for m in ("a", "b")]
    assert outcome.recorded == 6 and outcome.decision is None and not outcome.failures


def test_until_decided_stops_adding_seeds_once_the_pair_is_decided(tmp_path):
    pool = TablePool(_a_always_wins)
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(40), lambda: pool, io.StringIO(),
                        rule=StoppingRule(delta=0.5))
    decision = outcome.decision
    assert decision.stop and decision.pairs[0].verdict == "a_better"
    decided_at = decision.pairs[0].decided_at
    # What was in flight when the rule decided still finishes; nothing is submitted after.
    assert 2 * decided_at <= len(pool.submitted) <= 2 * decided_at + pool.workers
    assert outcome.recorded == len(pool.submitted) < 80
    assert decision.episodes_saved == 80 - outcome.recorded


def test_a_task_error_stops_the_sweep_after_what_is_in_flight(tmp_path):
    def broken(task: Task) -> TaskResult:
        return TaskResult(task, error="cannot reach policy server") if task.seed == 1 else _a_always_wins(task)

    pool = TablePool(broken)
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(10), lambda: pool, io.StringIO())
    assert outcome.failures and "a seed 1: cannot reach policy server" in outcome.failures[0]
    assert len(pool.submitted) <= 4


def test_a_lost_task_is_a_failure_and_a_retried_one_is_said(tmp_path):
    def table(task: Task) -> TaskResult | None:
        return TaskResult(task, success=True, progress=1.0, retried=task.seed == 0)

    pool = TablePool(table)
    err = io.StringIO()
    outcome = run_sweep(_spec(tmp_path), ["a"], range(2), lambda: pool, err)
    assert outcome.retried == [Task("a", 0)]
    assert "a seed 0: its first attempt's worker died; run again" in err.getvalue()


def test_a_dropped_session_is_run_once_more_and_a_second_drop_stops_the_sweep(tmp_path):
    attempts: dict[Task, int] = {}

    def drops(task: Task) -> TaskResult:
        attempts[task] = attempts.get(task, 0) + 1
        # (a, 1) is dropped once, as by a replica killed under it; (b, 2) on every attempt.
        if (task == Task("a", 1) and attempts[task] == 1) or task == Task("b", 2):
            return TaskResult(task, error="policy server dropped the session", session_dropped=True)
        return _a_always_wins(task)

    pool = TablePool(drops)
    err = io.StringIO()
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(6), lambda: pool, err)
    assert outcome.rerun_after_drop == [Task("a", 1), Task("b", 2)]
    assert "a seed 1: policy server dropped the session; run again on a new session" in err.getvalue()
    assert Task("a", 1) in outcome.results and attempts[Task("a", 1)] == 2
    # The retry goes first: seed 1 is run again before seed 2 begins.
    again = [i for i, task in enumerate(pool.submitted) if task == Task("a", 1)][1]
    assert again < pool.submitted.index(Task("a", 2))
    assert outcome.failures == ["b seed 2: policy server dropped the session"]
    assert attempts[Task("b", 2)] == 2 and len(pool.submitted) < 12


def test_a_session_dropped_after_the_sweep_stopped_submitting_is_not_run_again(tmp_path):
    def table(task: Task) -> TaskResult:
        if task == Task("a", 0):
            return TaskResult(task, error="cannot reach policy server")
        return TaskResult(task, error="policy server dropped the session", session_dropped=True)

    pool = TablePool(table)
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(4), lambda: pool, io.StringIO())
    # (a, 0) failed first and stopped the sweep; (b, 0), in flight beside it, is not run again.
    assert pool.submitted == [Task("a", 0), Task("b", 0)]
    assert outcome.rerun_after_drop == [] and len(outcome.failures) == 2
