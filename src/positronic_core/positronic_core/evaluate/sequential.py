"""An anytime-valid stopping rule for paired evaluations: add seeds until "A is better", "B is better", or "no
difference of DELTA or more" is established at 95%, whenever one looks; then stop and count the episodes saved
against the fixed-N plan.

Method: testing by betting (Shafer & Vovk; Waudby-Smith & Ramdas 2024, "Estimating means of bounded random
variables by betting", JRSS-B 86(1), with their aGRAPA bet). For each pair i the paired difference D_i = X_A - X_B
lies in [-1, 1] (success: -1, 0 or 1; progress: any value). To test "E[D] <= m" a gambler starts with capital 1 and
stakes a fraction lambda_i, chosen from pairs 1..i-1 only, on D_i exceeding m: K_n = prod (1 + lambda_i (D_i - m)).
Under the null K is a non-negative supermartingale, so by Ville's inequality P(K ever reaches 1/a) <= a: the
test may be checked after every pair, and stopped whenever, without inflating its error. Four such games run:

* "A better": null E[D] <= 0, threshold 2/alpha;   "B better": null E[D] >= 0, threshold 2/alpha
  (together: P(declaring a winner | no difference) <= alpha);
* "no difference >= DELTA": nulls E[D] >= DELTA and E[D] <= -DELTA, both past 1/alpha (a claim is wrong only if
  one of its two nulls holds, and each is tested at alpha).

Each bet is the aGRAPA fraction lambda = mean / (variance + mean^2) of the gambler's past winnings, clipped to
[0, 1/2], with a prior of `PRIOR_PAIRS` pseudo-pairs at the alternative (a difference of DELTA): so DELTA is the
difference the rule is tuned to detect quickly, and it still wins against any larger one.

Pairs are fed in the planned seed order, and only the run of planned seeds that both models have finished (the
prefix up to the first seed either still lacks): episodes end sooner when they succeed, so "whatever has
finished" would favour successes; the prefix does not depend on how long episodes take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from positronic_core.evaluate.trials import Trial, latest_by_key

ALPHA = 0.05
PRIOR_PAIRS = 4.0  # pseudo-pairs at the alternative behind the first bets
PRIOR_VARIANCE = 0.25
MAX_BET = 0.5
VERDICTS = ("a_better", "b_better", "ruled_out", "undecided")
# game name -> (sign of D, null boundary as a multiple of delta)
_GAMES = {"a_better": (1.0, 0.0), "b_better": (-1.0, 0.0), "below_plus_delta": (-1.0, -1.0),
          "above_minus_delta": (1.0, -1.0)}


class BettingRule:
    """The four betting games over one stream of paired differences; `update` with each new pair in order."""

    def __init__(self, delta: float, alpha: float = ALPHA) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"DELTA must be between 0 and 1 (a difference in rate or progress), got {delta}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        self.delta, self.alpha = delta, alpha
        self.pairs = 0
        self.log_capital = dict.fromkeys(_GAMES, 0.0)
        # Running sums of each game's winnings x (its prior included) for the plug-in bets.
        self._sum = dict.fromkeys(_GAMES, PRIOR_PAIRS * delta)
        self._square = dict.fromkeys(_GAMES, PRIOR_PAIRS * (PRIOR_VARIANCE + delta * delta))
        self._weight = PRIOR_PAIRS

    def bet(self, game: str) -> float:
        mean = self._sum[game] / self._weight
        variance = max(self._square[game] / self._weight - mean * mean, 1e-6)
        return min(MAX_BET, max(0.0, mean / (variance + mean * mean)))

    def update(self, difference: float) -> str:
        """Feed the next pair's difference A - B (in [-1, 1]); returns the verdict so far."""
        if not -1.0 <= difference <= 1.0:
            raise ValueError(f"a paired difference must lie in [-1, 1], got {difference}")
        for game, (sign, boundary) in _GAMES.items():
            x = sign * difference - boundary * self.delta
            self.log_capital[game] += math.log1p(self.bet(game) * x)
            self._sum[game] += x
            self._square[game] += x * x
        self._weight += 1.0
        self.pairs += 1
        return self.verdict()

    def verdict(self) -> str:
        winner = math.log(2.0 / self.alpha)
        if self.log_capital["a_better"] >= winner:
            return "a_better"
        if self.log_capital["b_better"] >= winner:
            return "b_better"
        bound = math.log(1.0 / self.alpha)
        if min(self.log_capital["below_plus_delta"], self.log_capital["above_minus_delta"]) >= bound:
            return "ruled_out"
        return "undecided"

    def e_values(self) -> dict[str, float]:
        return {game: math.exp(value) for game, value in self.log_capital.items()}


def first_decision(differences: Sequence[float], delta: float, alpha: float = ALPHA) -> tuple[str, int]:
    """(verdict, pairs used) for a stream of paired differences: stops at the first decision, else uses them all."""
    rule = BettingRule(delta, alpha)
    verdict = "undecided"
    for difference in differences:
        verdict = rule.update(float(difference))
        if verdict != "undecided":
            break
    return verdict, rule.pairs


@dataclass
class SequentialDecision:
    a: str
    b: str
    metric: str
    delta: float
    alpha: float
    verdict: str  # one of VERDICTS
    pairs_used: int  # planned seeds, in order, that both models had finished and the rule saw
    decided_at: int | None  # pairs at which the verdict was reached (None while undecided)
    planned_pairs: int
    episodes_run: int  # episodes of these models on planned seeds so far
    e_values: dict[str, float] = field(default_factory=dict)

    @property
    def stop(self) -> bool:
        """Stop adding episodes: decided, or every planned pair has been seen."""
        return self.verdict != "undecided" or self.pairs_used >= self.planned_pairs

    @property
    def episodes_planned(self) -> int:
        return 2 * self.planned_pairs

    @property
    def episodes_saved(self) -> int:
        """Planned episodes not run, once the rule says stop (0 while it does not)."""
        return max(0, self.episodes_planned - self.episodes_run) if self.stop else 0

    def describe(self) -> str:
        claim = {"a_better": f"{self.a} is better than {self.b}", "b_better": f"{self.b} is better than {self.a}",
                 "ruled_out": f"no {self.metric} difference of {self.delta:g} or more between {self.a} and {self.b}",
                 "undecided": f"{self.a} vs {self.b}: undecided"}[self.verdict]
        level = f"{100 * (1 - self.alpha):g}%"
        if self.verdict == "undecided":
            return f"{claim} after {self.pairs_used} of {self.planned_pairs} paired seeds ({self.metric}, {level})"
        return (f"{claim} ({self.metric}, anytime-valid at {level}) after {self.decided_at} of "
                f"{self.planned_pairs} paired seeds; {self.episodes_saved} of {self.episodes_planned} planned "
                "episodes saved")


def _value(trial: Trial, metric: str) -> float:
    return float(trial.success) if metric == "success" else trial.progress


def decide(trials: Sequence[Trial], a: str, b: str, delta: float, planned_seeds: Sequence[int],
           metric: str = "success", alpha: float = ALPHA, task: str | None = None) -> SequentialDecision:
    """Whether a sweep of `a` against `b` over `planned_seeds` (in the order they are run) can stop now.

    `trials` are the episodes so far; `task` picks one task when they hold several."""
    if metric not in ("success", "progress"):
        raise ValueError(f"metric must be success or progress, got {metric!r}")
    if len(set(planned_seeds)) != len(planned_seeds):
        raise ValueError("planned seeds must be distinct")
    chosen = [t for t in trials if t.model in (a, b) and (task is None or t.task == task)]
    tasks = {t.task for t in chosen}
    if len(tasks) > 1:
        raise ValueError(f"episodes of {len(tasks)} tasks: name one task for the stopping rule")
    by_model, _ = latest_by_key(chosen)
    side_a, side_b = ({seed: t for (_, seed), t in by_model.get(m, {}).items()} for m in (a, b))
    planned = set(planned_seeds)
    run = sum(seed in planned for seed in side_a) + sum(seed in planned for seed in side_b)
    rule = BettingRule(delta, alpha)
    verdict, decided_at = "undecided", None
    for seed in planned_seeds:
        if seed not in side_a or seed not in side_b:
            break
        verdict = rule.update(_value(side_a[seed], metric) - _value(side_b[seed], metric))
        if verdict != "undecided":
            decided_at = rule.pairs
            break
    return SequentialDecision(a=a, b=b, metric=metric, delta=delta, alpha=alpha, verdict=verdict,
                              pairs_used=rule.pairs, decided_at=decided_at, planned_pairs=len(planned_seeds),
                              episodes_run=run, e_values=rule.e_values())


@dataclass
class SweepDecision:
    """The stopping rule over every pair of models (alpha split evenly over the pairs, Bonferroni)."""

    pairs: list[SequentialDecision]
    models: int
    planned_pairs: int
    episodes_run: int

    @property
    def stop(self) -> bool:
        return all(p.stop for p in self.pairs)

    @property
    def episodes_planned(self) -> int:
        return self.models * self.planned_pairs

    @property
    def episodes_saved(self) -> int:
        return max(0, self.episodes_planned - self.episodes_run) if self.stop else 0

    def describe(self) -> str:
        """One line per pair, then the sweep's total."""
        lines = [p.describe().split(";")[0] for p in self.pairs]
        if self.stop:
            lines.append(f"stop: {self.episodes_run} of {self.episodes_planned} planned episodes run, "
                         f"{self.episodes_saved} saved")
        else:
            open_pairs = sum(not p.stop for p in self.pairs)
            lines.append(f"continue: {open_pairs} of {len(self.pairs)} pairs undecided")
        return "\n".join(lines)


def decide_sweep(trials: Sequence[Trial], models: Sequence[str], delta: float, planned_seeds: Sequence[int],
                 metric: str = "success", alpha: float = ALPHA, task: str | None = None) -> SweepDecision:
    """`decide` for every pair of `models` at alpha / pairs each, so all verdicts hold together at 1 - alpha; stop
    once every pair is decided (or the plan is done)."""
    if len(models) < 2:
        raise ValueError(f"need at least two models, got {len(models)}")
    pair_list = list(combinations(models, 2))
    decisions = [decide(trials, a, b, delta, planned_seeds, metric, alpha / len(pair_list), task)
                 for a, b in pair_list]
    planned = set(planned_seeds)
    run = sum(1 for t in trials if t.model in models and t.seed in planned and (task is None or t.task == task))
    return SweepDecision(decisions, len(models), len(planned_seeds), run)

