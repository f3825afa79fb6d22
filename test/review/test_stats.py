"""Wilson intervals and the exact McNemar test, checked against independent computations."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from positronic_core.evaluate.stats import mcnemar_exact, wilson_interval

Z95 = NormalDist().inv_cdf(0.975)


def score_test_bound(k: int, n: int, upper: bool) -> float:
    """Invert the score test by bisection: the p at which (k/n - p) / sqrt(p(1-p)/n) = -/+ z.

    No closed form involved, so it checks the quadratic-formula implementation independently.
    """
    observed = k / n
    if (upper and k == n) or (not upper and k == 0):
        return 1.0 if upper else 0.0
    low, high = (observed, 1.0) if upper else (0.0, observed)
    for _ in range(200):
        mid = (low + high) / 2
        statistic = (observed - mid) / math.sqrt(mid * (1 - mid) / n)
        # Upper bound: statistic decreases as p grows; find where it equals -z.
        if upper:
            low, high = (mid, high) if statistic > -Z95 else (low, mid)
        else:
            low, high = (mid, high) if statistic > Z95 else (low, mid)
    return (low + high) / 2


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (5, 10), (10, 10), (3, 7), (17, 50), (49, 50), (1, 200)])
def test_wilson_matches_score_test_inversion(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(score_test_bound(k, n, upper=False), abs=1e-9)
    assert high == pytest.approx(score_test_bound(k, n, upper=True), abs=1e-9)


def test_wilson_known_values() -> None:
    # Textbook values (Newcombe 1998, method 3): 0/10 -> (0, 0.2775); 5/10 -> (0.2366, 0.7634).
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=5e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=5e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
@settings(max_examples=200, deadline=None)
def test_wilson_contains_the_estimate_and_stays_in_unit_interval(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low - 1e-12 <= k / n <= high + 1e-12


def test_wilson_rejects_impossible_counts() -> None:
    for k, n in ((3, 2), (-1, 4), (1, -1)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)


def exact_two_sided(b: int, c: int) -> float:
    """Two-sided exact binomial test of b successes in b + c fair trials by enumeration: the total probability of
    outcomes no more likely than the one observed (the definition, not the doubling shortcut)."""
    n = b + c
    if n == 0:
        return 1.0
    probability = [Fraction(math.comb(n, i), 2**n) for i in range(n + 1)]
    observed = probability[b]
    return float(sum(p for p in probability if p <= observed))


@pytest.mark.parametrize("b,c", [(0, 0), (0, 5), (5, 0), (1, 9), (3, 3), (2, 7), (10, 25), (0, 1), (40, 60)])
def test_mcnemar_matches_enumeration(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(min(1.0, exact_two_sided(b, c)), rel=1e-12)


def test_mcnemar_known_values() -> None:
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(4, 4) == 1.0


@given(st.integers(0, 300), st.integers(0, 300))
@settings(max_examples=150, deadline=None)
def test_mcnemar_is_symmetric_and_a_probability(b: int, c: int) -> None:
    p = mcnemar_exact(b, c)
    assert 0.0 < p <= 1.0
    assert p == mcnemar_exact(c, b)


SCIPY_SCRIPT = """
import json, sys
from scipy import stats
cases = json.loads(sys.argv[1])
wilson = [list(stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method='wilson')) for k, n in cases['wilson']]
mcnemar = [stats.binomtest(b, b + c, 0.5).pvalue for b, c in cases['mcnemar']]
print(json.dumps({'wilson': wilson, 'mcnemar': mcnemar}))
"""


def test_against_scipy_in_the_upstream_venv() -> None:
    """scipy is not a dependency of ours; upstream's venv has it, so ask it in a subprocess."""
    import json
    import subprocess

    from upstream_peer import upstream_python

    python = upstream_python()
    if python is None:
        pytest.skip("neither our venv nor .venv-upstream has scipy (make test creates .venv-upstream)")
    probe = subprocess.run([str(python), "-c", "import scipy.stats"], capture_output=True, timeout=120)
    if probe.returncode != 0:
        pytest.skip(".venv-upstream has no scipy")
    cases = {"wilson": [[k, n] for n in (1, 3, 8, 25, 60) for k in range(0, n + 1, max(1, n // 6))],
             "mcnemar": [[b, c] for b in range(0, 25, 4) for c in range(0, 25, 5) if b + c]}
    done = subprocess.run([str(python), "-c", SCIPY_SCRIPT, json.dumps(cases)], capture_output=True, text=True,
                          timeout=120, check=True)
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    for (k, n), (low, high) in zip(cases["wilson"], expected["wilson"], strict=True):
        assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-9), (k, n)
    for (b, c), p in zip(cases["mcnemar"], expected["mcnemar"], strict=True):
        assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-9), (b, c)
