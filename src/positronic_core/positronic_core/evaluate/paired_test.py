"""Two-model paired statistics, each checked against an independent computation: scipy, statsmodels, or brute-force
enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from positronic_core.evaluate.paired import compare_paired, separating_metric
from positronic_core.evaluate.resampling import bootstrap_means, paired_bootstrap_interval
from positronic_core.evaluate.signed_rank import midranks, signed_rank_test
from positronic_core.evaluate.trials import Trial, pair_up, trials_from_rows


def _trials(model: str, successes: list[int], progress: list[float], task: str = "t") -> list[Trial]:
    return [Trial(model, seed, bool(s), p, task) for seed, (s, p) in enumerate(zip(successes, progress, strict=True))]


def test_pairing_keeps_the_latest_rerun_and_counts_the_unpaired() -> None:
    trials = _trials("A", [1, 0, 1], [1.0, 0.2, 1.0]) + _trials("B", [0, 0], [0.1, 0.0])
    trials.append(Trial("B", 0, True, 1.0, "t", order=5))  # B reran seed 0 later: that run counts
    paired = pair_up(trials, "A", "B")
    assert paired.keys == [("t", 0), ("t", 1)]
    assert paired.success_b.tolist() == [True, False]
    assert (paired.unpaired_a, paired.unpaired_b, paired.duplicates_ignored) == (1, 0, 1)
    with pytest.raises(ValueError, match="'C'"):
        pair_up(trials, "A", "C")


def test_rows_become_trials_labelled_model_and_checkpoint() -> None:
    rows = [{"model": "act", "checkpoint": "010000", "seed": 3, "outcome": "partial", "score": 0.5, "task": "t",
             "created_ts_ns": 1},
            {"model": "scripted", "checkpoint": "", "seed": 3, "outcome": "success", "score": 1.0, "task": "t"},
            {"model": "act", "checkpoint": "1", "seed": None, "outcome": "success", "score": 1.0},  # no seed
            {"model": "act", "checkpoint": "1", "seed": 1, "outcome": "", "score": None}]  # unscored
    trials = trials_from_rows(rows)
    assert [(t.model, t.seed, t.success, t.progress) for t in trials] == [("act:010000", 3, False, 0.5),
                                                                          ("scripted", 3, True, 1.0)]


@pytest.mark.parametrize("b,c", [(0, 0), (0, 5), (7, 1), (3, 3), (12, 25), (40, 60)])
def test_mcnemar_in_the_comparison_matches_statsmodels_and_scipy(b: int, c: int) -> None:
    both, neither = 4, 3
    a_wins = [1] * b + [0] * c + [1] * both + [0] * neither
    b_wins = [0] * b + [1] * c + [1] * both + [0] * neither
    comparison = compare_paired(pair_up(_trials("A", a_wins, [float(x) for x in a_wins])
                                        + _trials("B", b_wins, [float(x) for x in b_wins]), "A", "B"), resamples=500)
    assert (comparison.only_a, comparison.only_b, comparison.both, comparison.neither) == (b, c, both, neither)
    expected = sm_mcnemar([[both, b], [c, neither]], exact=True).pvalue
    assert comparison.success.p_value == pytest.approx(expected, rel=1e-9)
    if b + c:
        assert comparison.success.p_value == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    assert comparison.success.difference == pytest.approx((b - c) / len(a_wins))


@pytest.mark.parametrize("n", [1, 2, 5, 9, 20, 50])
def test_signed_rank_without_ties_matches_scipy_exact(n: int) -> None:
    d = np.random.default_rng(n).normal(0.3, 1.0, n)
    ours = signed_rank_test(d)
    theirs = scipy_stats.wilcoxon(d, method="exact")
    assert ours.exact and ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.statistic == pytest.approx(scipy_stats.wilcoxon(d, alternative="greater", method="exact").statistic)


def _enumerated_p(d: np.ndarray) -> float:
    """The definition: over all 2^n sign assignments of the (average) ranks, the two-sided tail of the + sum."""
    d = d[d != 0]
    ranks = midranks(np.abs(d))
    observed = ranks[d > 0].sum()
    sums = np.array([np.dot(signs, ranks) for signs in itertools.product((0, 1), repeat=len(d))])
    return min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)))


@pytest.mark.parametrize("seed", range(3))
def test_signed_rank_with_ties_and_zeros_matches_enumeration_and_scipy_permutation(seed: int) -> None:
    # Progress differences: multiples of 1/4 (items out of 4), with zeros and many tied magnitudes.
    d = np.random.default_rng(seed).integers(-2, 5, 10) / 4.0
    ours = signed_rank_test(d)
    assert ours.p_value == pytest.approx(_enumerated_p(d), rel=1e-9)
    theirs = scipy_stats.wilcoxon(d, method=scipy_stats.PermutationMethod(n_resamples=2**11))
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)


def test_signed_rank_beyond_the_exact_range_matches_scipy_asymptotic() -> None:
    d = np.round(np.random.default_rng(7).normal(0.05, 0.4, 600), 2)  # rounded: ties, and the tie correction
    ours = signed_rank_test(d)
    assert not ours.exact
    assert ours.p_value == pytest.approx(scipy_stats.wilcoxon(d, method="asymptotic").pvalue, rel=1e-9)
    assert signed_rank_test(np.zeros(5)).p_value == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_paired_bootstrap_interval_matches_scipy_bootstrap(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a = rng.uniform(0, 1, 30)
    b = np.clip(a - 0.15 + rng.normal(0, 0.2, 30), 0, 1)
    ours = paired_bootstrap_interval(a - b, 0.95, resamples=20_000, seed=seed)
    theirs = scipy_stats.bootstrap((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
                                   method="percentile", n_resamples=20_000, rng=seed).confidence_interval
    # Two independent Monte Carlo runs: their bounds differ by a few thousandths on this scale.
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.01)


def test_bootstrap_matches_exact_enumeration_on_three_pairs() -> None:
    # With 3 pairs there are 27 equally likely resamples: the bootstrap distribution is known exactly.
    values = np.array([0.0, 1.0, -1.0])
    exact = np.sort([values[list(idx)].mean() for idx in itertools.product(range(3), repeat=3)])
    means = bootstrap_means(values, resamples=200_000, seed=1)
    for level in np.unique(exact):
        assert np.mean(np.isclose(means, level)) == pytest.approx(np.mean(np.isclose(exact, level)), abs=0.005)


def test_bootstrap_is_reproducible_and_blocked_consistently() -> None:
    diffs = np.random.default_rng(2).normal(0, 1, 5000)  # 5000 pairs: resampled in several blocks
    assert np.array_equal(bootstrap_means(diffs, 1000, seed=3), bootstrap_means(diffs, 1000, seed=3))
    assert not np.array_equal(bootstrap_means(diffs, 1000, seed=3), bootstrap_means(diffs, 1000, seed=4))


def test_progress_separates_when_success_is_tied() -> None:
    # Both succeed on the same seeds; A gets further on every failed seed.
    a = _trials("A", [1] * 5 + [0] * 15, [1.0] * 5 + [0.8] * 15)
    b = _trials("B", [1] * 5 + [0] * 15, [1.0] * 5 + [0.2] * 15)
    comparison = compare_paired(pair_up(a + b, "A", "B"), resamples=2000)
    assert comparison.success.p_value == 1.0 and comparison.progress.p_value < 0.001
    assert comparison.separated_by == "progress"
    assert comparison.progress.difference == pytest.approx(0.6 * 15 / 20)
    assert 0 < comparison.progress.ci_low < 0.45 < comparison.progress.ci_high
    assert separating_metric(comparison.progress, comparison.success) == "success"  # by position: the smaller p
