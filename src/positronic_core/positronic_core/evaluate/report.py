"""Evaluation reports over recorded episodes: success rates per group with Wilson intervals, partial credit, mean
duration and failure modes; a paired comparison of two checkpoints run on the same seeds; and, when episodes of
two or more models carry seeds, every pairwise paired comparison and a ranking (`model_comparison`).

Episodes and their outcomes are exactly what the review table shows (`runs.row` plus the score logs and edit
logs), so a manual score in the page changes the report. Clips cut from recorded episodes (`runs.clips`) are not
evaluation runs and are left out, and so are episodes an edit log drops. Success rate = successes / scored
episodes (partial counts as not a success); partial credit = mean per-episode credit (`runs.outcomes.credit`).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from positronic_core.evaluate.comparison_text import model_comparison_json
from positronic_core.evaluate.model_comparison import ModelComparison, compare_models
from positronic_core.evaluate.resampling import DEFAULT_RESAMPLES
from positronic_core.evaluate.stats import mcnemar_exact, wilson_interval
from positronic_core.evaluate.trials import models_of, trials_from_rows
from positronic_core.runs.collect import collect_rows
from positronic_core.runs.outcomes import credit

GROUP_KEYS = ("model", "checkpoint", "task", "policy", "dataset", "seed")
DEFAULT_GROUPS = ("model", "checkpoint", "task")
UNTAGGED = "(untagged)"


@dataclass
class GroupStats:
    group: dict[str, str]
    runs: int = 0
    scored: int = 0
    successes: int = 0
    partials: int = 0
    failures: int = 0
    manual: int = 0
    success_rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    partial_credit: float | None = None
    items_successful: int = 0
    items_total: int = 0
    mean_duration_s: float | None = None
    failure_modes: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return " / ".join(v or "-" for v in self.group.values()) or "all"


@dataclass
class Comparison:
    a: str
    b: str
    pairs: int
    both_success: int
    only_a: int
    only_b: int
    neither: int
    success_rate_a: float | None
    success_rate_b: float | None
    p_value: float
    unpaired_a: int
    unpaired_b: int
    duplicates_ignored: int


@dataclass
class Runs:
    rows: list[dict[str, Any]]  # the evaluation runs, as review-table rows with manual scores applied
    clips: int  # clips found and left out
    unreadable: list[str]  # "<episode>: <why>" for episodes that could not be read
    dropped: int = 0  # episodes an edit log (`edits.jsonl`) drops, left out


def load_runs(path: Path) -> Runs:
    """Every evaluation run under `path` (one dataset or many); clips are counted, not included."""
    collected = collect_rows(Path(path))
    rows = [row for row in collected.rows if not row["clip_of"]]
    return Runs(rows, len(collected.rows) - len(rows), collected.errors, collected.dropped)


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of `load_runs`."""
    return load_runs(path).rows


def counted(n: int, noun: str) -> str:
    """"1 episode", "2 episodes"."""
    return f"{n} {noun if n == 1 else noun + 's'}"


def check_groups(by: list[str]) -> list[str]:
    unknown = [key for key in by if key not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(GROUP_KEYS)}")
    return by


def summarize(rows: list[dict[str, Any]], by: list[str], confidence: float = 0.95) -> list[GroupStats]:
    """One GroupStats per distinct value of the `by` columns, sorted by those values."""
    check_groups(by)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(_label(row.get(key)) for key in by), []).append(row)
    return [_stats(dict(zip(by, key, strict=True)), members, confidence) for key, members in sorted(groups.items())]


def _label(value: Any) -> str:
    return "" if value is None else str(value)


def _stats(group: dict[str, str], rows: list[dict[str, Any]], confidence: float) -> GroupStats:
    stats = GroupStats(group=group, runs=len(rows))
    credits, durations, modes = [], [], Counter()
    for row in rows:
        durations.append(row["duration_s"])
        outcome = row["outcome"] or None
        if outcome is None:
            continue
        stats.scored += 1
        stats.manual += row["outcome_source"] == "manual"
        stats.successes += outcome == "success"
        stats.partials += outcome == "partial"
        stats.failures += outcome == "failure"
        credits.append(credit(outcome, row["items_successful"], row["items_total"]))
        if row["items_total"]:
            stats.items_successful += row["items_successful"]
            stats.items_total += row["items_total"]
        if outcome != "success":
            modes[row["failure_mode"] or UNTAGGED] += 1
    if stats.scored:
        stats.success_rate = stats.successes / stats.scored
        stats.ci_low, stats.ci_high = wilson_interval(stats.successes, stats.scored, confidence)
        stats.partial_credit = sum(credits) / len(credits)
    if durations:
        stats.mean_duration_s = sum(durations) / len(durations)
    stats.failure_modes = dict(sorted(modes.items(), key=lambda kv: (-kv[1], kv[0])))
    return stats


def _matches(row: dict[str, Any], label: str) -> bool:
    checkpoint, model = row.get("checkpoint") or "", row.get("model") or ""
    return label in (checkpoint, f"{model}:{checkpoint}") or (not checkpoint and label == model)


def compare(rows: list[dict[str, Any]], a: str, b: str) -> Comparison:
    """Pair episodes of checkpoints `a` and `b` by (task, seed) and test the difference (exact McNemar).

    Only scored episodes with a seed take part. If a side ran a (task, seed) more than once, its latest episode is
    used and the others are counted in `duplicates_ignored`.
    """
    sides: list[dict[tuple[str, int], dict[str, Any]]] = [{}, {}]
    duplicates = 0
    for row in sorted(rows, key=lambda r: (r.get("created_ts_ns") or 0, r["index"])):
        if row["seed"] is None or not row["outcome"]:
            continue
        for side, label in enumerate((a, b)):
            if _matches(row, label):
                key = (row["task"], row["seed"])
                duplicates += key in sides[side]
                sides[side][key] = row
    if not sides[0] or not sides[1]:
        missing = [label for label, side in zip((a, b), sides, strict=True) if not side]
        raise ValueError(f"no scored episodes with a seed for checkpoint(s) {', '.join(map(repr, missing))}")
    shared = sorted(set(sides[0]) & set(sides[1]))
    both = only_a = only_b = neither = 0
    for key in shared:
        success_a = sides[0][key]["outcome"] == "success"
        success_b = sides[1][key]["outcome"] == "success"
        both += success_a and success_b
        only_a += success_a and not success_b
        only_b += success_b and not success_a
        neither += not success_a and not success_b
    n = len(shared)
    return Comparison(a=a, b=b, pairs=n, both_success=both, only_a=only_a, only_b=only_b, neither=neither,
                      success_rate_a=(both + only_a) / n if n else None,
                      success_rate_b=(both + only_b) / n if n else None,
                      p_value=mcnemar_exact(only_a, only_b),
                      unpaired_a=len(sides[0]) - n, unpaired_b=len(sides[1]) - n, duplicates_ignored=duplicates)


def compare_all_models(rows: list[dict[str, Any]], confidence: float = 0.95,
                       resamples: int = DEFAULT_RESAMPLES) -> ModelComparison | None:
    """The paired comparison of every model ("model:checkpoint") among the scored rows with a seed; None with
    fewer than two such models."""
    trials = trials_from_rows(rows)
    if len(models_of(trials)) < 2:
        return None
    return compare_models(trials, confidence=confidence, resamples=resamples)


# --- output ----------------------------------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _modes_text(modes: dict[str, int], limit: int = 4) -> str:
    items = list(modes.items())
    text = ", ".join(f"{mode} x{count}" for mode, count in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")


def format_table(stats: list[GroupStats], by: list[str]) -> str:
    """A plain-text table for the terminal."""
    headers = [*by, "runs", "scored", "success", "95% CI", "partial credit", "items", "mean dur (s)",
               "failure modes"]
    lines = []
    for s in stats:
        lines.append([*(s.group[k] or "-" for k in by), str(s.runs), str(s.scored),
                      f"{s.successes}/{s.scored} {_pct(s.success_rate)}",
                      "-" if s.ci_low is None else f"{_pct(s.ci_low)}-{_pct(s.ci_high)}",
                      "-" if s.partial_credit is None else f"{s.partial_credit:.2f}",
                      f"{s.items_successful}/{s.items_total}" if s.items_total else "-",
                      "-" if s.mean_duration_s is None else f"{s.mean_duration_s:.1f}",
                      _modes_text(s.failure_modes) or "-"])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join(out)


def format_comparison(c: Comparison) -> str:
    lines = [f"Paired comparison on (task, seed): {c.a} vs {c.b}",
             f"  pairs {c.pairs}: both succeed {c.both_success}, only {c.a} {c.only_a}, only {c.b} {c.only_b}, "
             f"neither {c.neither}",
             f"  success on paired episodes: {c.a} {_pct(c.success_rate_a)}, {c.b} {_pct(c.success_rate_b)}",
             f"  exact McNemar two-sided p = {c.p_value:.4g}"
             + ("  (no discordant pairs: no evidence either way)" if c.only_a + c.only_b == 0 else "")]
    if c.unpaired_a or c.unpaired_b or c.duplicates_ignored:
        lines.append(f"  left out: {c.unpaired_a} of {c.a} and {c.unpaired_b} of {c.b} without a partner; "
                     f"{counted(c.duplicates_ignored, 'repeated (task, seed) run')} (the latest is used)")
    return "\n".join(lines)


def to_json(stats: list[GroupStats], by: list[str], comparison: Comparison | None = None,
            models: ModelComparison | None = None) -> str:
    payload: dict[str, Any] = {"by": by, "groups": [asdict(s) for s in stats]}
    if comparison is not None:
        payload["comparison"] = asdict(comparison)
    if models is not None:
        payload["models"] = model_comparison_json(models)
    return json.dumps(payload, indent=2)


def to_csv(stats: list[GroupStats], by: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*by, "runs", "scored", "successes", "partials", "failures", "manual", "success_rate",
                     "ci_low", "ci_high", "partial_credit", "items_successful", "items_total", "mean_duration_s",
                     "failure_modes"])
    for s in stats:
        writer.writerow([*(s.group[k] for k in by), s.runs, s.scored, s.successes, s.partials, s.failures, s.manual,
                         _num(s.success_rate), _num(s.ci_low), _num(s.ci_high), _num(s.partial_credit),
                         s.items_successful, s.items_total, _num(s.mean_duration_s),
                         ";".join(f"{m}={n}" for m, n in s.failure_modes.items())])
    return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
