"""Holm's step-down correction (Holm 1979, "A simple sequentially rejective multiple test procedure"): controls the
family-wise error rate under any dependence between the tests, and never rejects less than Bonferroni."""

from __future__ import annotations

from collections.abc import Sequence


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: reject test i at level alpha iff adjusted[i] <= alpha."""
    m = len(p_values)
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must be in [0, 1], got {p}")
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for step, i in enumerate(order):
        # The k-th smallest is compared with alpha / (m - k + 1); the running max keeps the adjusted values monotone.
        running = max(running, min(1.0, (m - step) * p_values[i]))
        adjusted[i] = running
    return adjusted
