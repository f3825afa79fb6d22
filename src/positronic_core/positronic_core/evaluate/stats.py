"""Statistics for evaluation reports: Wilson score intervals and the exact McNemar test.

Both are computed with integer arithmetic where it matters (binomial tail sums use exact fractions), so small
samples, which is what robot evaluations have, get exact answers rather than normal approximations.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """The two-sided standard normal quantile for `confidence` (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion; (0, 1) when there are no trials."""
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    z = z_for(confidence)
    n = float(trials)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = (z / denominator) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    # Clamp rounding residue: at p = 0 or 1 one bound is exactly 0 or 1 analytically.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def binomial_cdf_half(k: int, n: int) -> Fraction:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly."""
    if k < 0:
        return Fraction(0)
    if k >= n:
        return Fraction(1)
    return Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    `only_a`: pairs where A succeeded and B failed; `only_b`: the reverse. Under the null hypothesis each
    discordant pair is a fair coin, so p = min(1, 2 * P(X <= min(only_a, only_b))), X ~ Binomial(only_a + only_b,
    1/2). With no discordant pairs there is no evidence either way: p = 1.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError(f"discordant counts must be non-negative, got {only_a} and {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = binomial_cdf_half(min(only_a, only_b), n)
    return float(min(Fraction(1), 2 * tail))
