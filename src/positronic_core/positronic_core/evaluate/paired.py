"""Two models on paired seeds: the difference in success rate and in progress, each with a paired bootstrap
interval and a paired test, and which of the two metrics separated the models.

Success: mean of (A succeeded) - (B succeeded) over pairs, tested with the exact McNemar test on the discordant
pairs (`stats.mcnemar_exact`). Progress (partial credit, `trials`): mean per-pair difference, tested with the exact
Wilcoxon signed-rank test (`signed_rank`). Both intervals are percentile intervals of the paired bootstrap
(`resampling`), seeded, so the same episodes always give the same report.

"Separated" means: the smaller p-value; when both are equal the larger effect-to-half-width ratio of the interval;
"both" when they tie on both (e.g. no partial credit anywhere, so progress is success); "neither" when neither
shows any difference. Progress sees more than
pass/fail (a model that gets the cube to the target more often, but not always long enough to count, differs in
progress first), so on small samples it often decides first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from positronic_core.evaluate.resampling import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_bootstrap_interval
from positronic_core.evaluate.signed_rank import signed_rank_test
from positronic_core.evaluate.stats import mcnemar_exact
from positronic_core.evaluate.trials import Paired

METRICS = ("success", "progress")


@dataclass
class MetricDifference:
    metric: str  # "success" or "progress"
    mean_a: float
    mean_b: float
    difference: float  # mean_a - mean_b over the pairs
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # which paired test gave p_value

    @property
    def signal_to_width(self) -> float:
        """|difference| over the interval's half-width: above 1 means the interval excludes zero, roughly."""
        half = (self.ci_high - self.ci_low) / 2.0
        return abs(self.difference) / half if half > 0 else (np.inf if self.difference else 0.0)


@dataclass
class PairedComparison:
    a: str
    b: str
    pairs: int
    only_a: int  # pairs where only A succeeded
    only_b: int
    both: int
    neither: int
    success: MetricDifference
    progress: MetricDifference
    unpaired_a: int = 0
    unpaired_b: int = 0
    duplicates_ignored: int = 0

    @property
    def separated_by(self) -> str:
        """The metric that separated A and B more clearly (see the module docstring)."""
        return separating_metric(self.success, self.progress)

    def metric(self, name: str) -> MetricDifference:
        return self.success if name == "success" else self.progress


def separating_metric(success: MetricDifference, progress: MetricDifference) -> str:
    if success.p_value != progress.p_value:
        return "success" if success.p_value < progress.p_value else "progress"
    if success.signal_to_width == progress.signal_to_width:
        return "neither" if success.difference == progress.difference == 0 else "both"
    return "success" if success.signal_to_width > progress.signal_to_width else "progress"


def compare_paired(paired: Paired, confidence: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                   seed: int = DEFAULT_SEED) -> PairedComparison:
    """The paired comparison of `paired.a` against `paired.b` (positive differences favour A)."""
    if paired.n == 0:
        raise ValueError(f"{paired.a} and {paired.b} share no (task, seed): nothing to pair")
    sa, sb = paired.success_a, paired.success_b
    only_a, only_b = int(np.sum(sa & ~sb)), int(np.sum(sb & ~sa))
    success_diff, progress_diff = paired.success_diff(), paired.progress_diff()
    success = MetricDifference(
        "success", float(sa.mean()), float(sb.mean()), float(success_diff.mean()),
        *paired_bootstrap_interval(success_diff, confidence, resamples, seed),
        p_value=mcnemar_exact(only_a, only_b), test="exact McNemar")
    ranked = signed_rank_test(progress_diff)
    progress = MetricDifference(
        "progress", float(paired.progress_a.mean()), float(paired.progress_b.mean()), float(progress_diff.mean()),
        *paired_bootstrap_interval(progress_diff, confidence, resamples, seed),
        p_value=ranked.p_value, test="Wilcoxon signed-rank" + ("" if ranked.exact else " (normal approx.)"))
    return PairedComparison(a=paired.a, b=paired.b, pairs=paired.n, only_a=only_a, only_b=only_b,
                            both=int(np.sum(sa & sb)), neither=int(np.sum(~sa & ~sb)), success=success,
                            progress=progress, unpaired_a=paired.unpaired_a, unpaired_b=paired.unpaired_b,
                            duplicates_ignored=paired.duplicates_ignored)
