"""More than two models: Holm against statsmodels, Bradley-Terry against a logistic-regression fit in statsmodels,
and rank intervals that are tight exactly when the models differ clearly."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from positronic_core.evaluate.model_comparison import compare_models
from positronic_core.evaluate.multiple_testing import holm_adjust
from positronic_core.evaluate.ranking import PSEUDO_WINS, fit_bradley_terry, rank_models
from positronic_core.evaluate.trials import Trial


@pytest.mark.parametrize("case", range(12))
def test_holm_matches_statsmodels(case: int) -> None:
    rng = np.random.default_rng(case)
    p_values = list(rng.uniform(0, 1, 1 + case * 3) ** 3)  # many small ones, so the step-down matters
    p_values += [p_values[0], 1.0, 0.0][: case % 4]  # ties and the ends of the range
    expected = multipletests(p_values, method="holm")[1]
    assert holm_adjust(p_values) == pytest.approx(list(expected), abs=1e-12)


def test_holm_rejects_bad_p_values() -> None:
    with pytest.raises(ValueError, match="1.5"):
        holm_adjust([0.1, 1.5])


def _logistic_bradley_terry(wins: np.ndarray) -> np.ndarray:
    """The same model as a binomial GLM: one row per pair (i, j), x_i = +1, x_j = -1, wins (with the pseudo-wins)
    against losses; model 0 is the reference. Returns centred strengths."""
    k = len(wins)
    rows, counts = [], []
    for i in range(k):
        for j in range(i + 1, k):
            x = np.zeros(k)
            x[i], x[j] = 1.0, -1.0
            rows.append(x[1:])
            counts.append([wins[i, j] + PSEUDO_WINS, wins[j, i] + PSEUDO_WINS])
    fit = sm.GLM(np.array(counts), np.array(rows), family=sm.families.Binomial()).fit(tol=1e-12)
    theta = np.concatenate([[0.0], fit.params])
    return theta - theta.mean()


@pytest.mark.parametrize("seed", range(4))
def test_bradley_terry_matches_a_statsmodels_logistic_fit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 3 + seed
    wins = rng.integers(0, 12, (k, k)).astype(float)
    np.fill_diagonal(wins, 0)
    wins[0, :] = 0  # model 0 never wins: finite only thanks to the pseudo-wins
    assert fit_bradley_terry(wins) == pytest.approx(_logistic_bradley_terry(wins), abs=1e-6)


def _population(rates: list[float], seeds: int, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    trials = []
    for s in range(seeds):
        difficulty = rng.uniform(-0.15, 0.15)  # shared by all models on the seed: what pairing exploits
        for i, rate in enumerate(rates):
            success = bool(rng.uniform() < rate + difficulty)
            trials.append(Trial(f"m{i}", s, success, 1.0 if success else float(rng.uniform(0, rate))))
    return trials


def test_clearly_different_models_get_single_rank_intervals() -> None:
    ranking = rank_models(_population([0.1, 0.5, 0.9], seeds=60), ["m0", "m1", "m2"], resamples=300)
    assert [(e.model, e.rank, e.rank_low, e.rank_high) for e in ranking] == [("m2", 1, 1, 1), ("m1", 2, 2, 2),
                                                                              ("m0", 3, 3, 3)]
    assert ranking[0].p_best == 1.0


def test_equal_models_get_wide_rank_intervals() -> None:
    ranking = rank_models(_population([0.5, 0.5, 0.5], seeds=30, seed=1), ["m0", "m1", "m2"], resamples=300)
    assert all(e.rank_low == 1 and e.rank_high == 3 for e in ranking)
    assert max(e.p_best for e in ranking) < 0.9


def test_compare_models_adjusts_every_pairwise_test_with_holm() -> None:
    trials = _population([0.2, 0.5, 0.55, 0.9], seeds=40, seed=2)
    result = compare_models(trials, resamples=500, rank_resamples=200)
    assert len(result.pairs) == 6 and not result.skipped_pairs
    raw = [pair.comparison.metric(m).p_value for pair in result.pairs for m in ("success", "progress")]
    adjusted = [pair.adjusted[m] for pair in result.pairs for m in ("success", "progress")]
    assert adjusted == pytest.approx(list(multipletests(raw, method="holm")[1]), abs=1e-12)
    # Pairs are oriented best-ranked first, so success differences are not negative for the clear pairs.
    assert result.pairs[0].comparison.a == "m3" and result.pairs[0].comparison.success.difference > 0
    assert result.rankings["success"][0].model == "m3" and result.rankings["progress"][-1].model == "m0"
    with pytest.raises(ValueError, match="two models"):
        compare_models([t for t in trials if t.model == "m0"])


def test_models_without_shared_seeds_are_reported_not_compared() -> None:
    trials = [Trial("a", 0, True, 1.0), Trial("b", 0, False, 0.0), Trial("c", 7, True, 1.0)]
    result = compare_models(trials, resamples=100, rank_resamples=50)
    assert [(p.comparison.a, p.comparison.b) for p in result.pairs] == [("a", "b")]
    assert sorted(map(sorted, result.skipped_pairs)) == [["a", "c"], ["b", "c"]]
