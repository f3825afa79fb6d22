"""The model comparison (`model_comparison`) as text for the terminal and as JSON-ready data."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from positronic_core.evaluate.model_comparison import ModelComparison, PairResult
from positronic_core.evaluate.paired import METRICS, MetricDifference
from positronic_core.evaluate.ranking import RankEntry


def _signed(metric: str, value: float) -> str:
    return f"{100 * value:+.1f}%" if metric == "success" else f"{value:+.2f}"


def _plain(metric: str, value: float) -> str:
    return f"{100 * value:.1f}%" if metric == "success" else f"{value:.2f}"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def difference_text(d: MetricDifference) -> str:
    return f"{_signed(d.metric, d.difference)} [{_signed(d.metric, d.ci_low)}, {_signed(d.metric, d.ci_high)}]"


def separated(pair: PairResult, alpha: float) -> str:
    """The metric that separated the pair at `alpha` after Holm, or "neither"."""
    return pair.comparison.separated_by if min(pair.adjusted.values()) <= alpha else "neither"


def separation_text(pair: PairResult, alpha: float) -> str:
    """Which metric separated the pair, and by how much."""
    c = pair.comparison
    best = c.separated_by
    if best == "neither":
        return f"neither metric (p {_p(c.success.p_value)} for both, no effect in either)"
    if best == "both":
        return (f"both metrics equally (p {_p(c.success.p_value)}, Holm {_p(pair.adjusted['success'])}"
                f"{'' if min(pair.adjusted.values()) <= alpha else f'; not at {100 * alpha:g}% after Holm'})")
    other = "success" if best == "progress" else "progress"
    chosen, rest = c.metric(best), c.metric(other)
    if chosen.p_value == rest.p_value:
        why = (f"equal p {_p(chosen.p_value)}; effect / interval half-width {chosen.signal_to_width:.2f} vs "
               f"{rest.signal_to_width:.2f}")
    else:
        why = f"p {_p(chosen.p_value)} vs {_p(rest.p_value)} for {other}"
    if min(pair.adjusted.values()) > alpha:
        return f"neither at {100 * alpha:g}% after Holm; {best} came closer ({why})"
    return f"{best} ({why}; Holm {_p(pair.adjusted[best])})"


def _table(headers: list[str], lines: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           indent + "  ".join("-" * w for w in widths)]
    out += [indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return out


def pairs_text(result: ModelComparison) -> list[str]:
    level = f"{100 * result.confidence:g}%"
    lines = []
    for pair in result.pairs:
        c = pair.comparison
        row = [c.a, c.b, str(c.pairs)]
        for metric in METRICS:
            d = c.metric(metric)
            row += [f"{_plain(metric, d.mean_a)} vs {_plain(metric, d.mean_b)}", difference_text(d),
                    _p(d.p_value), _p(pair.adjusted[metric])]
        row.append(separated(pair, 1.0 - result.confidence))
        lines.append(row)
    headers = ["A", "B", "pairs", "success A vs B", f"A-B [{level} CI]", "p McNemar", "p Holm",
               "progress A vs B", f"A-B [{level} CI]", "p Wilcoxon", "p Holm",
               f"separated at {100 * (1 - result.confidence):g}%"]
    return _table(headers, lines)


def ranking_text(result: ModelComparison) -> list[str]:
    level = f"{100 * result.confidence:g}%"
    by_model: dict[str, dict[str, RankEntry]] = {}
    for metric in METRICS:
        for entry in result.rankings[metric]:
            by_model.setdefault(entry.model, {})[metric] = entry
    lines = []
    for entry in result.rankings["success"]:
        row = [entry.model]
        for metric in METRICS:
            e = by_model[entry.model][metric]
            span = f"{e.rank}" if e.rank_low == e.rank_high == e.rank else f"{e.rank} ({e.rank_low}-{e.rank_high})"
            row += [span, f"{e.strength:+.2f}", f"{e.p_best:.2f}"]
        lines.append(row)
    headers = ["model", f"success rank ({level})", "strength", "P(best)",
               f"progress rank ({level})", "strength", "P(best)"]
    return _table(headers, lines)


def format_model_comparison(result: ModelComparison) -> str:
    """The pairwise table, each pair's separating metric, and the ranking."""
    level = f"{100 * result.confidence:g}%"
    lines = [f"Paired comparison of {len(result.models)} models on shared (task, seed): differences A - B with "
             f"{level} paired bootstrap intervals ({result.resamples} resamples, seeded); p two-sided, Holm over "
             f"all {2 * len(result.pairs)} tests"]
    lines += pairs_text(result)
    for pair in result.pairs:
        c = pair.comparison
        notes = [f"  {c.a} vs {c.b}: separated by {separation_text(pair, 1.0 - result.confidence)}"]
        if c.unpaired_a or c.unpaired_b or c.duplicates_ignored:
            notes.append(f"    left out: {c.unpaired_a} of {c.a} and {c.unpaired_b} of {c.b} without a partner, "
                         f"{c.duplicates_ignored} earlier reruns")
        lines += notes
    for a, b in result.skipped_pairs:
        lines.append(f"  {a} vs {b}: no shared (task, seed), not compared")
    lines += ["", f"Ranking: Bradley-Terry strengths from paired wins, {level} bootstrap rank interval, "
                  "P(ranked first)"]
    lines += ranking_text(result)
    return "\n".join(lines)


def model_comparison_json(result: ModelComparison) -> dict[str, Any]:
    pairs = []
    for pair in result.pairs:
        entry = asdict(pair.comparison)
        for metric in METRICS:
            entry[metric]["p_holm"] = pair.adjusted[metric]
        entry["separated_by"] = separated(pair, 1.0 - result.confidence)
        entry["closer_metric"] = pair.comparison.separated_by
        pairs.append(entry)
    return {"models": result.models, "confidence": result.confidence, "resamples": result.resamples,
            "pairs": pairs, "skipped_pairs": [list(p) for p in result.skipped_pairs],
            "rankings": {metric: [asdict(e) for e in entries] for metric, entries in result.rankings.items()}}
