"""The anytime-valid stopping rule: its error rates by simulation (seeded, a few hundred sequences each), its
savings on a clear difference, and how a sweep feeds it episodes."""

from __future__ import annotations

import numpy as np
import pytest

from positronic_core.evaluate.sequential import VERDICTS, BettingRule, decide, decide_sweep, first_decision
from positronic_core.evaluate.trials import Trial

SEQUENCES = 400
# Three standard errors of a 5% rate over SEQUENCES runs: the Monte Carlo slack on the 5% bound.
SLACK = 3 * (0.05 * 0.95 / SEQUENCES) ** 0.5


def success_streams(seed: int, p_a: float, p_b: float, pairs: int, shared: float = 0.5,
                    sequences: int = SEQUENCES) -> np.ndarray:
    """sequences x pairs simulated paired success differences; on each seed both models see the same scene
    difficulty with probability `shared` (what makes pairing worth it)."""
    rng = np.random.default_rng(seed)
    scene = rng.uniform(size=(sequences, pairs))
    u_a = np.where(rng.uniform(size=scene.shape) < shared, scene, rng.uniform(size=scene.shape))
    u_b = np.where(rng.uniform(size=scene.shape) < shared, scene, rng.uniform(size=scene.shape))
    return (u_a < p_a).astype(float) - (u_b < p_b).astype(float)


def run_rule(streams: np.ndarray, delta: float) -> tuple[dict[str, int], float]:
    """Verdict counts and mean pairs used when the rule watches each stream."""
    counts, used = dict.fromkeys(VERDICTS, 0), 0
    for stream in streams:
        verdict, n = first_decision(stream, delta)
        counts[verdict] += 1
        used += n
    return counts, used / len(streams)


def simulate(seed: int, p_a: float, p_b: float, pairs: int, delta: float) -> tuple[dict[str, int], float]:
    return run_rule(success_streams(seed, p_a, p_b, pairs), delta)


def test_type_one_error_without_a_difference_stays_under_five_percent() -> None:
    streams = success_streams(seed=1, p_a=0.5, p_b=0.5, pairs=200)
    counts, _ = run_rule(streams, delta=0.2)
    false_winner = (counts["a_better"] + counts["b_better"]) / SEQUENCES
    # The same streams watched by a fixed-N test (paired z at 95%) after every pair from the 10th: the simulation
    # is sharp enough to catch a rule that is not anytime-valid.
    n = np.arange(1, streams.shape[1] + 1)
    mean = np.cumsum(streams, axis=1) / n
    spread = np.sqrt(np.maximum(np.cumsum(streams**2, axis=1) / n - mean**2, 1e-12) / n)
    peeking = float(np.mean(np.any((np.abs(mean / spread) > 1.96)[:, 9:], axis=1)))
    print(f"no difference, 200 pairs: {counts}, false winner rate {false_winner:.3f}; "
          f"a z-test peeked at every pair: {peeking:.3f}")
    assert false_winner <= 0.05 + SLACK
    assert peeking > 0.15


def test_type_one_error_on_progress_differences() -> None:
    # Progress: both models draw credit from the same skewed distribution, partly shared per scene.
    rng = np.random.default_rng(6)
    scene = rng.beta(0.6, 0.9, size=(SEQUENCES, 150))
    own = rng.beta(0.6, 0.9, size=(2, SEQUENCES, 150))
    mix = rng.uniform(size=(2, SEQUENCES, 150)) < 0.6
    progress = np.where(mix, scene, own)
    counts, _ = run_rule(progress[0] - progress[1], delta=0.15)
    print(f"progress, no difference, 150 pairs: {counts}")
    assert (counts["a_better"] + counts["b_better"]) / SEQUENCES <= 0.05 + SLACK


def test_a_true_difference_of_delta_is_rarely_ruled_out() -> None:
    counts, _ = simulate(seed=2, p_a=0.6, p_b=0.4, pairs=200, delta=0.2)
    print(f"difference 0.2 = DELTA, 200 pairs: {counts}")
    assert counts["ruled_out"] / SEQUENCES <= 0.05 + SLACK
    assert counts["b_better"] == 0


def test_a_clear_difference_stops_well_before_the_fixed_plan() -> None:
    planned = 50
    counts, mean_pairs = simulate(seed=3, p_a=0.8, p_b=0.3, pairs=planned, delta=0.2)
    saved = 2 * (planned - mean_pairs)
    print(f"0.8 vs 0.3, plan {planned} seeds: {counts}, mean {mean_pairs:.1f} pairs, "
          f"{saved:.1f} of {2 * planned} episodes saved on average")
    assert counts["a_better"] >= 0.95 * SEQUENCES
    assert mean_pairs < 0.6 * planned


def test_equal_models_are_ruled_out_within_the_plan() -> None:
    counts, mean_pairs = simulate(seed=4, p_a=0.9, p_b=0.9, pairs=100, delta=0.2)
    print(f"0.9 vs 0.9, DELTA 0.2, plan 100 seeds: {counts}, mean {mean_pairs:.1f} pairs")
    assert counts["ruled_out"] >= 0.9 * SEQUENCES and mean_pairs < 80


def test_the_rule_rejects_impossible_input() -> None:
    with pytest.raises(ValueError, match="DELTA"):
        BettingRule(0.0)
    with pytest.raises(ValueError, match="-1, 1"):
        BettingRule(0.2).update(1.5)


def _sweep(model: str, outcomes: dict[int, int], task: str = "t") -> list[Trial]:
    return [Trial(model, seed, bool(s), float(s), task) for seed, s in outcomes.items()]


def test_decide_feeds_only_the_finished_prefix_of_planned_seeds() -> None:
    planned = list(range(100, 130))
    a = _sweep("A", {seed: 1 for seed in planned})
    b = _sweep("B", {seed: 0 for seed in planned if seed != 103})  # B has not finished seed 103 yet
    decision = decide(a + b, "A", "B", 0.2, planned)
    assert decision.pairs_used == 3 and decision.verdict == "undecided" and not decision.stop
    assert decision.episodes_saved == 0
    b += _sweep("B", {103: 0})
    decision = decide(a + b, "A", "B", 0.2, planned)
    assert decision.verdict == "a_better" and decision.stop
    assert decision.decided_at == decision.pairs_used < 30
    # Every planned episode already ran: nothing saved; had the sweep stopped at the decision, 2 x the rest would be.
    assert decision.episodes_run == 60 and decision.episodes_saved == 0
    early = decide([t for t in a + b if t.seed < 100 + decision.decided_at], "A", "B", 0.2, planned)
    assert early.episodes_saved == 2 * (30 - decision.decided_at)
    assert "A is better than B" in early.describe() and "episodes saved" in early.describe()


def test_decide_stops_at_the_end_of_the_plan_undecided() -> None:
    planned = list(range(6))
    trials = _sweep("A", {s: s % 2 for s in planned}) + _sweep("B", {s: (s + 1) % 2 for s in planned})
    decision = decide(trials, "A", "B", 0.2, planned)
    assert decision.verdict == "undecided" and decision.stop and decision.episodes_saved == 0


def test_decide_needs_one_task_and_distinct_seeds() -> None:
    trials = _sweep("A", {0: 1}, "t1") + _sweep("B", {0: 1}, "t2")
    with pytest.raises(ValueError, match="2 tasks"):
        decide(trials, "A", "B", 0.2, [0])
    assert decide(trials, "A", "B", 0.2, [0], task="t1").pairs_used == 0
    with pytest.raises(ValueError, match="distinct"):
        decide(trials, "A", "B", 0.2, [0, 0])


def test_decide_sweep_splits_alpha_and_stops_when_every_pair_is_decided() -> None:
    planned = list(range(60))
    rng = np.random.default_rng(5)
    trials = []
    for model, rate in (("good", 0.95), ("bad", 0.05), ("worse", 0.0)):
        trials += _sweep(model, {s: int(rng.uniform() < rate) for s in planned[:40]})
    decision = decide_sweep(trials, ["good", "bad", "worse"], 0.3, planned)
    assert all(p.alpha == pytest.approx(0.05 / 3) for p in decision.pairs)
    verdicts = {(p.a, p.b): p.verdict for p in decision.pairs}
    assert verdicts[("good", "bad")] == "a_better" and verdicts[("good", "worse")] == "a_better"
    assert verdicts[("bad", "worse")] == "ruled_out"
    assert decision.stop and decision.episodes_saved == 3 * 20
    assert decision.describe().splitlines()[-1] == "stop: 120 of 180 planned episodes run, 60 saved"
    partial = decide_sweep([t for t in trials if t.seed < 2], ["good", "bad", "worse"], 0.3, planned)
    assert not partial.stop and partial.describe().endswith("continue: 3 of 3 pairs undecided")
