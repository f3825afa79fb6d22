"""Several models on paired seeds: every pairwise comparison (`paired`), Holm-corrected, and a Bradley-Terry
ranking with rank intervals (`ranking`), for success and for progress.

The Holm family is every pairwise test of both metrics together (2 x K(K-1)/2 tests): the report says which metric
separated each pair, and choosing the better of two tests after the fact must be paid for. With two models that
is two tests, so an adjusted p is at most twice the raw one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from positronic_core.evaluate.multiple_testing import holm_adjust
from positronic_core.evaluate.paired import METRICS, PairedComparison, compare_paired
from positronic_core.evaluate.ranking import DEFAULT_RANK_RESAMPLES, RankEntry, rank_models
from positronic_core.evaluate.resampling import DEFAULT_RESAMPLES, DEFAULT_SEED
from positronic_core.evaluate.trials import Trial, models_of, pair_up


@dataclass
class PairResult:
    comparison: PairedComparison
    adjusted: dict[str, float]  # metric -> Holm-adjusted p-value


@dataclass
class ModelComparison:
    models: list[str]
    confidence: float
    resamples: int
    pairs: list[PairResult] = field(default_factory=list)
    rankings: dict[str, list[RankEntry]] = field(default_factory=dict)  # metric -> ranking, best first
    skipped_pairs: list[tuple[str, str]] = field(default_factory=list)  # pairs without a shared (task, seed)


def compare_models(trials: Sequence[Trial], models: Sequence[str] | None = None, confidence: float = 0.95,
                   resamples: int = DEFAULT_RESAMPLES, rank_resamples: int = DEFAULT_RANK_RESAMPLES,
                   seed: int = DEFAULT_SEED) -> ModelComparison:
    """All pairwise paired comparisons of `models` (default: every model among `trials`) and their ranking.

    Each pair is oriented so that A is the better-ranked model on success, so differences read "A minus B"."""
    models = list(models) if models is not None else models_of(trials)
    if len(models) < 2:
        raise ValueError(f"need at least two models to compare, got {len(models)}")
    result = ModelComparison(models=models, confidence=confidence, resamples=resamples)
    for metric in METRICS:
        result.rankings[metric] = rank_models(trials, models, metric, confidence, rank_resamples, seed)
    order = [entry.model for entry in result.rankings["success"]]
    comparisons = []
    for a, b in combinations(order, 2):
        paired = pair_up(trials, a, b)
        if paired.n == 0:
            result.skipped_pairs.append((a, b))
            continue
        comparisons.append(compare_paired(paired, confidence, resamples, seed))
    adjusted = holm_adjust([c.metric(m).p_value for c in comparisons for m in METRICS])
    for k, comparison in enumerate(comparisons):
        result.pairs.append(PairResult(comparison, dict(zip(METRICS, adjusted[2 * k: 2 * k + 2], strict=True))))
    return result
