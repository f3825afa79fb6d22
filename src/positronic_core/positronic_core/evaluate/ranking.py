"""A ranking of models from their paired wins: a Bradley-Terry fit, and how sure the ranks are (bootstrap over
seeds).

On every (task, seed) two models both ran, the one with the better outcome wins (success over failure; for
progress, strictly more credit); equal outcomes carry no information and are left out. The Bradley-Terry model says
P(i beats j) = 1 / (1 + exp(theta_j - theta_i)); theta is its maximum-likelihood fit by Hunter's MM iteration
(Hunter 2004, "MM algorithms for generalized Bradley-Terry models", Ann. Statist. 32(1)), with half a pseudo-win
each way for every pair of models: without it a model that never lost would have an infinite strength. Strengths
are centred to mean zero.

Rank uncertainty: resample the seeds with replacement (all models' episodes on a seed move together, keeping the
pairing), refit, and take the central 95% of each model's rank over the resamples, with the share of resamples in
which it ranked first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from positronic_core.evaluate.resampling import DEFAULT_SEED
from positronic_core.evaluate.trials import Trial, latest_by_key

PSEUDO_WINS = 0.5
DEFAULT_RANK_RESAMPLES = 1000  # each refits the model; 1000 keeps a 10-model report under a second
_MM_ITERATIONS = 2000
_MM_TOLERANCE = 1e-10


@dataclass
class RankEntry:
    model: str
    strength: float  # Bradley-Terry theta (log scale, centred)
    rank: int  # 1 = best, from the point estimate
    rank_low: int  # central `confidence` interval of the bootstrap ranks
    rank_high: int
    p_best: float  # share of bootstrap resamples in which the model ranked first


def outcome_matrix(trials: Sequence[Trial], models: Sequence[str], metric: str) -> np.ndarray:
    """models x keys outcomes (success as 0/1, or progress), NaN where a model did not run the key."""
    by_model, _ = latest_by_key(t for t in trials if t.model in models)
    keys = sorted({key for runs in by_model.values() for key in runs})
    column = {key: k for k, key in enumerate(keys)}
    matrix = np.full((len(models), len(keys)), np.nan)
    for i, model in enumerate(models):
        for key, trial in by_model.get(model, {}).items():
            matrix[i, column[key]] = float(trial.success) if metric == "success" else trial.progress
    return matrix


def win_indicators(outcomes: np.ndarray) -> np.ndarray:
    """models x models x keys: 1 where model i did better than model j on the key (both ran it)."""
    a, b = outcomes[:, None, :], outcomes[None, :, :]
    with np.errstate(invalid="ignore"):
        return (a > b).astype(float)  # NaN compares False: an absent model neither wins nor loses


def fit_bradley_terry(wins: np.ndarray, pseudo_wins: float = PSEUDO_WINS) -> np.ndarray:
    """Centred Bradley-Terry strengths from a models x models win-count matrix, or a stack of them (..., K, K)."""
    wins = np.asarray(wins, dtype=float)
    k = wins.shape[-1]
    off_diagonal = 1.0 - np.eye(k)
    wins = wins * off_diagonal + pseudo_wins * off_diagonal
    games = wins + np.swapaxes(wins, -1, -2)
    total_wins = wins.sum(axis=-1)
    p = np.ones(wins.shape[:-1])
    for _ in range(_MM_ITERATIONS):
        denominator = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        updated = total_wins / denominator
        updated /= np.exp(np.log(updated).mean(axis=-1, keepdims=True))
        done = np.max(np.abs(updated - p)) < _MM_TOLERANCE
        p = updated
        if done:
            break
    theta = np.log(p)
    return theta - theta.mean(axis=-1, keepdims=True)


def ranks_of(strengths: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, strongest first; ties share the best rank they cover."""
    return (strengths[..., None, :] > strengths[..., :, None] + 1e-12).sum(axis=-1) + 1


def rank_models(trials: Sequence[Trial], models: Sequence[str], metric: str = "success", confidence: float = 0.95,
                resamples: int = DEFAULT_RANK_RESAMPLES, seed: int = DEFAULT_SEED) -> list[RankEntry]:
    """Bradley-Terry ranking of `models` on `metric` ("success" or "progress"), best first, with rank intervals."""
    if metric not in ("success", "progress"):
        raise ValueError(f"metric must be success or progress, got {metric!r}")
    indicators = win_indicators(outcome_matrix(trials, models, metric))
    k, n = indicators.shape[0], indicators.shape[-1]
    strengths = fit_bradley_terry(indicators.sum(axis=-1))
    rank = ranks_of(strengths)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples) if n else np.zeros((resamples, 0))
    boot_wins = np.einsum("ijn,bn->bij", indicators, weights)
    boot_ranks = ranks_of(fit_bradley_terry(boot_wins))
    tail = (1.0 - confidence) / 2.0
    low = np.quantile(boot_ranks, tail, axis=0, method="lower")
    high = np.quantile(boot_ranks, 1.0 - tail, axis=0, method="higher")
    entries = [RankEntry(models[i], float(strengths[i]), int(rank[i]), int(low[i]), int(high[i]),
                         float(np.mean(boot_ranks[:, i] == 1))) for i in range(k)]
    return sorted(entries, key=lambda e: (e.rank, -e.strength, e.model))
