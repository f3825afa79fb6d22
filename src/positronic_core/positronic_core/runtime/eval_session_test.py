"""The evaluation session's state machine, without a display: fake runtimes for the rules, one real simulator run for
what Submit and Cancel leave on disk."""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from positronic_core.runtime.eval_session import (
    FAIL,
    OUTCOMES,
    PARTIAL,
    RAN_OUT_OF_TIME,
    STALLED,
    STOP_OUTCOMES,
    SUCCESS,
    EvalError,
    EvalSession,
    EvalState,
    Verdict,
    suggested_successful_items,
)
from positronic_core.runtime.sim_runtime import OperatorVerdict

TICK = 1.0 / 15.0


@dataclass
class FakeEpisode:
    index: int
    task: str
    now: float = 0.0
    ticks: int = 0
    stopped: list[tuple[bool, dict[str, Any] | None]] = field(default_factory=list)
    operator: OperatorVerdict | None = None
    stopped_by_operator: bool = False

    def tick(self) -> None:
        self.ticks += 1
        self.now = round(self.ticks * TICK, 9)

    def stop(self, save: bool = True, statics: dict[str, Any] | None = None, *,
             operator: OperatorVerdict | None = None, stopped_by_operator: bool = False) -> str:
        assert not self.stopped, "an episode is stopped exactly once"
        self.stopped.append((save, statics))
        self.operator, self.stopped_by_operator = operator, stopped_by_operator
        return f"summary {self.index}"


class FakeRuntime:
    def __init__(self) -> None:
        self.episodes: list[FakeEpisode] = []

    def start(self, task: str, statics: dict[str, Any] | None = None) -> FakeEpisode:
        self.episodes.append(FakeEpisode(len(self.episodes), task))
        return self.episodes[-1]


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def session(time_cap: float = 60.0, realtime: bool = False, clock: FakeClock | None = None) -> EvalSession:
    return EvalSession(FakeRuntime(), time_cap=time_cap, realtime=realtime, clock=clock or FakeClock())


def test_full_cycle_submits_the_verdict_as_statics():
    s = session(time_cap=60.0)
    assert s.state is EvalState.WAITING and s.advance() == math.inf
    episode = s.start("  Stack the cubes. ")
    assert s.state is EvalState.RUNNING and episode.task == "Stack the cubes."
    for _ in range(30):
        s.advance()
    s.stop(FAIL)
    assert s.state is EvalState.REVIEWING and s.outcome == FAIL
    assert s.duration == pytest.approx(2.0)
    s.advance()
    assert episode.ticks == 30, "a reviewed episode no longer ticks"
    assert s.submit(Verdict(FAIL, total_items=3, successful_items=1, notes=" slipped \n")) == "summary 0"
    assert s.state is EvalState.WAITING and s.episode is None and s.outcome is None
    assert episode.stopped == [(True, {"eval.outcome": FAIL, "eval.total_items": 3, "eval.successful_items": 1,
                                       "eval.notes": "slipped", "eval.duration": pytest.approx(2.0),
                                       "eval.time_cap": 60.0})]
    assert episode.operator == OperatorVerdict("partial", FAIL) and not episode.stopped_by_operator


def test_cancel_discards_and_the_next_episode_starts_fresh():
    s = session()
    first = s.start("stack")
    s.advance()
    s.stop(SUCCESS)
    s.cancel()
    assert first.stopped == [(False, None)]
    assert first.operator is None and first.stopped_by_operator, "a discarded episode has no verdict"
    second = s.start("stack")
    assert second is not first and s.state is EvalState.RUNNING and s.duration == 0.0


def test_time_cap_stops_with_ran_out_of_time():
    s = session(time_cap=1.0)
    episode = s.start("stack")
    while s.state is EvalState.RUNNING:
        s.advance()
        assert episode.ticks <= 15
    assert episode.ticks == 15
    assert s.outcome == RAN_OUT_OF_TIME and s.duration == pytest.approx(1.0)
    s.submit(Verdict(RAN_OUT_OF_TIME))
    statics = episode.stopped[0][1]
    assert statics["eval.outcome"] == RAN_OUT_OF_TIME and statics["eval.duration"] == pytest.approx(1.0)
    assert statics["eval.time_cap"] == 1.0


def test_realtime_pacing_ticks_when_due_and_never_bursts():
    clock = FakeClock()
    s = session(realtime=True, clock=clock)
    episode = s.start("stack")
    assert s.advance() == pytest.approx(TICK)  # the first tick is due at once
    assert episode.ticks == 1
    assert s.advance() == pytest.approx(TICK) and episode.ticks == 1  # not due yet
    clock.t += TICK
    s.advance()
    assert episode.ticks == 2
    # The simulator fell 5 s behind (a slow render): one tick, then paced from there, not 75 catch-up ticks.
    clock.t += 5.0
    s.advance()
    assert episode.ticks == 3
    assert s.advance() == pytest.approx(TICK) and episode.ticks == 3
    clock.t += TICK
    s.advance()
    assert episode.ticks == 4


@pytest.mark.parametrize(
    "action, state",
    [
        (lambda s: s.stop(FAIL), EvalState.WAITING),
        (lambda s: s.submit(Verdict(FAIL)), EvalState.WAITING),
        (lambda s: s.cancel(), EvalState.WAITING),
        (lambda s: s.start("again"), EvalState.RUNNING),
        (lambda s: s.submit(Verdict(FAIL)), EvalState.RUNNING),
        (lambda s: s.cancel(), EvalState.RUNNING),
        (lambda s: s.start("again"), EvalState.REVIEWING),
        (lambda s: s.stop(FAIL), EvalState.REVIEWING),
    ],
)
def test_actions_in_the_wrong_state_are_refused_and_change_nothing(action, state):
    s = session()
    if state is not EvalState.WAITING:
        s.start("stack")
    if state is EvalState.REVIEWING:
        s.stop(FAIL)
    version = s.version
    with pytest.raises(EvalError, match=f"while {state.value}"):
        action(s)
    assert s.state is state and s.version == version


def test_start_needs_a_task_and_stop_a_known_outcome():
    s = session()
    with pytest.raises(EvalError, match="choose a task"):
        s.start("   ")
    assert s.state is EvalState.WAITING and not s.runtime.episodes
    s.start("stack")
    with pytest.raises(EvalError, match="unknown outcome"):
        s.stop("Meh")
    assert s.state is EvalState.RUNNING


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"total_items": 0}, "at least 1"),
        ({"total_items": -2}, "at least 1"),
        ({"total_items": 3, "successful_items": 4}, r"between 0 and the total \(3\)"),
        ({"successful_items": -1}, "between 0"),
        ({"total_items": 2.5}, "whole number"),
        ({"total_items": True}, "whole number"),
        ({"successful_items": "1"}, "whole number"),
        ({"outcome": "Great"}, "unknown outcome"),
    ],
)
def test_verdict_validation(kwargs, message):
    with pytest.raises(EvalError, match=message):
        Verdict(**{"outcome": PARTIAL, **kwargs})


@pytest.mark.parametrize(
    "outcome, total, successful, grade",
    [
        (SUCCESS, 1, 0, "success"),  # the items were left at their default
        (SUCCESS, 3, 3, "success"),
        (SUCCESS, 3, 2, "partial"),
        (PARTIAL, 3, 0, "partial"),
        (FAIL, 1, 0, "failure"),
        (RAN_OUT_OF_TIME, 4, 0, "failure"),
        (RAN_OUT_OF_TIME, 4, 1, "partial"),
        (STALLED, 2, 2, "partial"),
    ],
)
def test_grade_is_how_reports_count_the_verdict(outcome, total, successful, grade):
    assert Verdict(outcome, total_items=total, successful_items=successful).grade == grade


def test_a_refused_submit_keeps_the_episode_under_review():
    s = session()
    episode = s.start("stack")
    s.stop(PARTIAL)
    with pytest.raises(EvalError):
        s.submit(Verdict(PARTIAL, total_items=2, successful_items=3))
    assert s.state is EvalState.REVIEWING and not episode.stopped
    s.submit(Verdict(PARTIAL, total_items=2, successful_items=1))
    assert episode.stopped[0][0] is True


def test_close_discards_an_unsubmitted_episode():
    s = session()
    assert s.close() is None
    episode = s.start("stack")
    s.advance()
    assert s.close() == "summary 0"
    assert episode.stopped == [(False, None)] and s.state is EvalState.WAITING
    assert episode.operator is None and episode.stopped_by_operator


def test_outcome_lists_and_suggestions():
    assert set(STOP_OUTCOMES) == set(OUTCOMES) - {RAN_OUT_OF_TIME}
    assert {"Success", "Partial", "Fail", "Stalled", "Safety", "System"} == set(STOP_OUTCOMES)
    assert suggested_successful_items(SUCCESS, 4) == 4
    assert suggested_successful_items(FAIL, 4) == 0


def test_time_cap_must_be_positive():
    with pytest.raises(ValueError, match="time_cap"):
        EvalSession(FakeRuntime(), time_cap=-1)


def test_submit_and_cancel_on_the_simulator(tmp_path):
    """Real episodes: Submit writes the verdict into static.json and the operator's verdict wins on the terminal,
    Cancel leaves no directory behind."""
    # The sim package, not mujoco itself: it picks the headless GL backend before mujoco reads MUJOCO_GL.
    pytest.importorskip("positronic_core.sim")
    from positronic_core.dataset import layout
    from positronic_core.policy.scripted import ScriptedStackingPolicy
    from positronic_core.runtime.sim_runtime import SimRuntime
    from positronic_core.sim.stack_cubes import StackCubesSim

    cameras = ("image.exterior",)
    robot = StackCubesSim(camera_size=(96, 72), cameras=cameras)
    try:
        printed = io.StringIO()
        runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=tmp_path, cameras=cameras, out=printed)
        s = EvalSession(runtime, time_cap=0.5, realtime=False)
        s.start("Pick up the green cube.")
        while s.state is EvalState.RUNNING:
            s.advance()
        # The cap stopped it, but the operator judges the task done: Success, though no stack was held in 0.5 s.
        summary = s.submit(Verdict(SUCCESS, total_items=2, successful_items=2, notes="cap"))
        s.start("Stack the cubes.")
        s.advance()
        s.stop(SUCCESS)
        s.cancel()
    finally:
        robot.close()
    dirs = layout.episode_dirs(tmp_path)
    assert [path for _, path in dirs] == [summary.path]
    static = json.loads((summary.path / "static.json").read_text())
    assert static["task"] == "Pick up the green cube."
    assert static["eval.outcome"] == SUCCESS and static["eval.notes"] == "cap"
    assert static["eval.total_items"] == 2 and static["eval.successful_items"] == 2
    assert static["eval.auto_success"] is False and "eval.ended_by" not in static
    submitted, cancelled = printed.getvalue().splitlines()
    assert ": success (operator; auto: failure) " in submitted and submitted.endswith(str(summary.path))
    assert ": no verdict (stopped by operator; auto: failure) " in cancelled and cancelled.endswith("(not saved)")
    assert "success 1/1 (100%, 1 judged by the operator)" in runtime.summary()
    # The cap (0.5 s) falls between two ticks (7.5 ticks at 15 Hz): the episode stops at the first tick past it.
    assert static["eval.duration"] == pytest.approx(8 / 15, abs=1e-6) and static["eval.time_cap"] == 0.5
