import pytest

from positronic_core.runtime.episode_lifecycle import EpisodeLifecycle, LifecycleError, TimedPlan, parse_metadata
from positronic_core.stacking_task import TASK


def test_each_episode_takes_the_next_index_and_seed_and_a_named_seed_moves_the_sequence():
    lifecycle = EpisodeLifecycle(first_seed=5)
    first = lifecycle.start(0.0)
    assert (first.index, first.seed, first.task) == (0, 5, TASK)
    lifecycle.stop(1.0)
    assert (lifecycle.start(2.0, "other", seed=40).index, lifecycle.current.seed) == (1, 40)
    lifecycle.stop(3.0, save=False)
    assert lifecycle.start(4.0).seed == 41


def test_one_episode_at_a_time_and_no_stop_without_one():
    lifecycle = EpisodeLifecycle()
    with pytest.raises(LifecycleError, match="no episode is running"):
        lifecycle.stop(0.0)
    lifecycle.start(0.0)
    with pytest.raises(LifecycleError, match="episode 0 is running; stop it first"):
        lifecycle.start(1.0)
    ended = lifecycle.stop(2.5, save=True, outcome="success", notes="clean")
    assert (ended.elapsed_s, ended.saved, ended.outcome, ended.notes) == (2.5, True, "success", "clean")


def test_metadata_must_be_a_json_object_and_a_refused_start_changes_nothing():
    lifecycle = EpisodeLifecycle()
    with pytest.raises(LifecycleError, match="JSON object"):
        lifecycle.start(0.0, metadata="[1, 2]")
    with pytest.raises(LifecycleError, match="JSON object"):
        lifecycle.start(0.0, metadata="{not json")
    assert not lifecycle.running and lifecycle.next_seed == 0
    assert lifecycle.start(0.0, metadata='{"operator": "ana"}').metadata == {"operator": "ana"}
    assert parse_metadata("") == {} and parse_metadata({"a": 1}) == {"a": 1}


def test_timed_mode_runs_its_iterations_back_to_back():
    lifecycle = EpisodeLifecycle(timed=TimedPlan(duration_s=2.0, iterations=2))
    steps = []
    now = 0.0
    while not lifecycle.finished:
        step = lifecycle.timed_step(now)
        steps.append((round(now, 2), step))
        if step == "start":
            lifecycle.start(now)
        elif step == "stop":
            lifecycle.stop(now)
        now += 0.5
    assert [s for s in steps if s[1]] == [(0.0, "start"), (2.0, "stop"), (2.5, "start"), (4.5, "stop")]
    assert lifecycle.timed_step(now) is None


def test_bad_plans_and_seeds_are_refused():
    with pytest.raises(ValueError, match="duration must be positive"):
        TimedPlan(0.0, 1)
    with pytest.raises(ValueError, match="iterations must be at least 1"):
        TimedPlan(1.0, 0)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        EpisodeLifecycle(first_seed=-1)


def test_an_episode_that_could_not_be_set_up_gives_back_its_index_and_seed():
    lifecycle = EpisodeLifecycle(first_seed=3)
    lifecycle.start(0.0)
    lifecycle.abandon()
    assert not lifecycle.running
    again = lifecycle.start(0.0)
    assert (again.index, again.seed) == (0, 3)
