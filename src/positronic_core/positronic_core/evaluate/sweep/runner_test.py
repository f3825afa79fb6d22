"""The runner's submission and stopping logic, on a pool that runs tasks in this process from a table of
outcomes (the real pools and episodes are tested end to end in test/system/test_sweep.py)."""

from __future__ import annotations

import io
import json

import pytest

from positronic_core.dataset import layout
from positronic_core.dataset.writer import DatasetWriter
from positronic_core.evaluate.sweep import placement
from positronic_core.evaluate.sweep.conditions import RECORD_FILE, ConditionsError
from positronic_core.evaluate.sweep.plan import (
    MODEL_STATIC,
    SEED_STATIC,
    EpisodeSettings,
    ModelSource,
    SweepSpec,
    Task,
    TaskResult,
)
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


def _publishing(output_dir):
    """Outcomes that, as a worker's, leave the task's finished episode in its slot."""
    def publish(task: Task) -> TaskResult:
        partial, _ = placement.begin(output_dir, task)
        writer = DatasetWriter(partial).new_episode()
        writer.append("grip", 0.0, 1)
        writer.set_static(MODEL_STATIC, task.model)
        writer.set_static(SEED_STATIC, task.seed)
        placement.publish(writer.finish(), placement.slot(output_dir, task))
        placement.discard(output_dir, task)
        return _a_always_wins(task)

    return publish


def _first_sweep(tmp_path, settings: EpisodeSettings) -> None:
    spec = SweepSpec(tmp_path, ModelSource(server=("127.0.0.1", 1)), settings)
    outcome = run_sweep(spec, ["a", "b"], range(2), lambda: TablePool(_publishing(tmp_path)), io.StringIO())
    assert outcome.recorded == 4 and not outcome.failures


def _no_pool() -> TablePool:
    raise AssertionError("the refused sweep made a pool")


def test_a_rerun_under_other_simulation_flags_is_refused_before_anything_runs(tmp_path):
    _first_sweep(tmp_path, EpisodeSettings())
    record = (tmp_path / RECORD_FILE).read_text()
    other = SweepSpec(tmp_path, ModelSource(server=("127.0.0.1", 1)),
                      EpisodeSettings(simulation_time=1.0, camera_width=64))
    err = io.StringIO()
    with pytest.raises(ConditionsError) as refused:
        run_sweep(other, ["a", "b"], range(4), _no_pool, err)
    assert str(refused.value) == (
        f"{tmp_path} holds episodes recorded under other simulation flags (--driver.simulation_time was 15.0, "
        "now 1.0; --camera_width was 320, now 64): give the original flags to resume, or a new --output_dir")
    assert err.getvalue() == ""
    assert (tmp_path / RECORD_FILE).read_text() == record
    assert [len(layout.episode_dirs(tmp_path / m)) for m in ("a", "b")] == [2, 2]


def test_a_rerun_under_the_same_flags_resumes(tmp_path):
    _first_sweep(tmp_path, EpisodeSettings())
    pool = TablePool(_publishing(tmp_path))
    err = io.StringIO()
    outcome = run_sweep(_spec(tmp_path), ["a", "b"], range(3), lambda: pool, err)
    assert outcome.resumed == 4 and pool.submitted == [Task("a", 2), Task("b", 2)]
    assert err.getvalue().splitlines()[0] == f"4 episodes of 6 already recorded in {tmp_path}: running the other 2"


def test_a_dir_from_before_the_record_resumes_with_a_note_and_gets_one(tmp_path):
    _first_sweep(tmp_path, EpisodeSettings())
    (tmp_path / RECORD_FILE).unlink()
    pool = TablePool(_publishing(tmp_path))
    err = io.StringIO()
    spec = SweepSpec(tmp_path, ModelSource(server=("127.0.0.1", 1)), EpisodeSettings(simulation_time=1.0))
    outcome = run_sweep(spec, ["a", "b"], range(3), lambda: pool, err)
    assert outcome.resumed == 4 and pool.submitted == [Task("a", 2), Task("b", 2)]
    assert err.getvalue().splitlines()[0] == (
        f"{tmp_path} has no record of the simulation flags its episodes were recorded with (a sweep from before "
        f"{RECORD_FILE}): they are not checked against these")
    flags = json.loads((tmp_path / RECORD_FILE).read_text())["flags"]
    assert flags["--driver.simulation_time"] == 1.0
