"""The Wilcoxon signed-rank test for paired differences, exact for the sample sizes robot evaluations have.

Zero differences (both models equally good on a seed) carry no sign and are dropped (Wilcoxon's own rule, scipy's
default `zero_method="wilcox"`); tied magnitudes get their average rank. The p-value is exact: the permutation
distribution of the positive-rank sum over all 2^n sign flips, computed by convolution on doubled ranks (average
ranks are multiples of 1/2, so doubled they are integers), which stays exact with ties where the classic tables do
not. Past `EXACT_MAX_PAIRS` non-zero pairs the normal approximation with the tie-corrected variance takes over; there
it agrees with the exact value to about three decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EXACT_MAX_PAIRS = 400
# Progress differences are differences of floats: round away representation noise so equal credit counts as a tie.
_DECIMALS = 9


@dataclass(frozen=True)
class SignedRankResult:
    statistic: float  # sum of the ranks of the positive differences
    p_value: float  # two-sided
    nonzero: int  # pairs that took part (zero differences dropped)
    exact: bool


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of `values`, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + 1 + end) / 2.0
            start = end
    return ranks


def null_distribution(doubled_ranks: np.ndarray) -> np.ndarray:
    """P(sum of doubled ranks carrying a + sign = s) for s = 0..sum, each sign a fair coin."""
    total = int(doubled_ranks.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    reach = 0
    for r in doubled_ranks.astype(int):
        shifted = dist[: reach + 1].copy()
        dist[: reach + 1] *= 0.5
        dist[r: r + reach + 1] += 0.5 * shifted
        reach += r
    return dist


def signed_rank_test(diffs: np.ndarray) -> SignedRankResult:
    """Two-sided Wilcoxon signed-rank test that the per-pair differences `diffs` are symmetric about zero."""
    d = np.round(np.asarray(diffs, dtype=float), _DECIMALS)
    d = d[d != 0.0]
    n = len(d)
    if n == 0:
        return SignedRankResult(statistic=0.0, p_value=1.0, nonzero=0, exact=True)
    ranks = midranks(np.abs(d))
    plus = float(ranks[d > 0].sum())
    if n <= EXACT_MAX_PAIRS:
        dist = null_distribution(np.rint(2 * ranks))
        t = int(round(2 * plus))
        lower, upper = dist[: t + 1].sum(), dist[t:].sum()
        return SignedRankResult(plus, float(min(1.0, 2.0 * min(lower, upper))), n, exact=True)
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    mean = n * (n + 1) / 4.0
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    z = (plus - mean) / math.sqrt(variance)
    return SignedRankResult(plus, float(min(1.0, 2.0 * NormalDist().cdf(-abs(z)))), n, exact=False)
