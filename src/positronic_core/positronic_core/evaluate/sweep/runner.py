"""A sweep from plan to report: skip what is already recorded (only under the simulation flags DIR's episodes were
recorded with, `conditions`), keep the pool busy seed by seed, stop early when the stopping rule has decided
(`--until-decided`), then report on the sweep's episodes.

A task whose server session was dropped mid-episode (behind a load balancer, the replica holding it died) is run
once more, first in the queue, on a new session; any other task error (server unreachable, model refused) would
meet every later task too, so the sweep stops submitting.

Stopping: after each finished episode, `evaluate.sequential.decide_sweep` reads the planned seeds in order (only
the prefix both models of a pair have finished counts, so fast-finishing successes cannot bias it). Once every pair
is decided no new task is submitted; the episodes already running finish and are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from positronic_core.evaluate.sequential import SweepDecision, decide_sweep
from positronic_core.evaluate.sweep import conditions, placement
from positronic_core.evaluate.sweep.plan import SweepSpec, Task, TaskResult, plan_tasks
from positronic_core.evaluate.sweep.pools import RETRIES, TaskPool
from positronic_core.evaluate.sweep.progress import SweepProgress
from positronic_core.evaluate.trials import Trial
from positronic_core.wording import plural


@dataclass(frozen=True)
class StoppingRule:
    delta: float
    metric: str = "success"


@dataclass
class SweepOutcome:
    planned: int
    results: dict[Task, TaskResult] = field(default_factory=dict)  # every episode the sweep has, resumed ones too
    resumed: int = 0
    failures: list[str] = field(default_factory=list)
    retried: list[Task] = field(default_factory=list)  # a worker died under their first attempt
    rerun_after_drop: list[Task] = field(default_factory=list)  # their first attempt's server session was dropped
    decision: SweepDecision | None = None

    @property
    def recorded(self) -> int:
        return len(self.results)


def trial_of(result: TaskResult, task_name: str) -> Trial:
    success = bool(result.success)
    progress = result.progress if result.progress is not None else float(success)
    return Trial(model=result.task.model, seed=result.task.seed, success=success, progress=progress, task=task_name)


def find_recorded(spec: SweepSpec, tasks: Sequence[Task]) -> dict[Task, TaskResult]:
    """The planned tasks whose episodes are already in their slots (raises PlacementError for a foreign one)."""
    found = {}
    for task in tasks:
        result = placement.published(spec.output_dir, task)
        if result is not None:
            found[task] = result
    return found


def run_sweep(spec: SweepSpec, models: Sequence[str], seeds: Sequence[int], make_pool: Callable[[], TaskPool],
              err: TextIO, rule: StoppingRule | None = None,
              progress_factory: Callable[..., SweepProgress] = SweepProgress) -> SweepOutcome:
    """Runs the planned tasks DIR does not hold yet; raises ConditionsError, before anything runs, if DIR holds
    episodes recorded under other simulation flags."""
    checked = conditions.check_and_record(spec.output_dir, spec.settings)
    tasks = plan_tasks(models, seeds)
    outcome = SweepOutcome(planned=len(tasks))
    outcome.results.update(find_recorded(spec, tasks))
    outcome.resumed = len(outcome.results)
    queue = [task for task in tasks if task not in outcome.results]
    progress = progress_factory(err, len(tasks), outcome.resumed)
    if not checked:
        progress.note(f"{spec.output_dir} has no record of the simulation flags its episodes were recorded with "
                      f"(a sweep from before {conditions.RECORD_FILE}): they are not checked against these")
    if outcome.resumed:
        progress.note(f"{plural(outcome.resumed, 'episode')} of {len(tasks)} already recorded in "
                      f"{spec.output_dir}: running the other {len(queue)}")

    def decided() -> bool:
        if rule is None:
            return False
        trials = [trial_of(r, spec.settings.task) for r in outcome.results.values()]
        outcome.decision = decide_sweep(trials, list(models), rule.delta, list(seeds), rule.metric)
        return outcome.decision.stop

    if decided():
        queue.clear()
    if not queue:
        progress.shrink(outcome.recorded)
        return outcome
    pool = make_pool()
    stopped = False  # no new task is submitted: one failed, or the stopping rule decided
    try:
        while queue or pool.in_flight():
            while queue and pool.in_flight() < pool.workers:
                pool.submit(queue.pop(0))
            for finished in pool.wait():
                result = finished.result
                if result is not None and result.session_dropped and not stopped and \
                        outcome.rerun_after_drop.count(finished.task) < RETRIES:
                    outcome.rerun_after_drop.append(finished.task)
                    progress.note(f"{finished.task}: {result.error}; run again on a new session")
                    queue.insert(0, finished.task)
                    continue
                if result is None or result.error:
                    why = finished.lost if result is None else result.error
                    outcome.failures.append(f"{finished.task}: {why}")
                    progress.finished(pool.in_flight(), failed=True)
                    # A task's error (server gone, model refused) is every later task's too: stop submitting.
                    queue.clear()
                    stopped = True
                    continue
                if result.retried:
                    outcome.retried.append(finished.task)
                    progress.note(f"{finished.task}: its first attempt's worker died; run again")
                outcome.results[finished.task] = result
                progress.finished(pool.in_flight())
                if queue and decided():
                    queue.clear()
                    stopped = True
                    progress.shrink(outcome.recorded + pool.in_flight())
        decided()
    finally:
        pool.close()
        placement.clear_partials(Path(spec.output_dir), list(models))
        progress.end()
    return outcome
