"""The report a sweep ends with: `evaluate.report`'s table and model comparison over the sweep's own episodes
(its models' datasets, its planned seeds), and what the sweep did: resumed, retried, failed, stopped early."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from positronic_core.evaluate import report
from positronic_core.evaluate.comparison_text import format_model_comparison
from positronic_core.evaluate.sweep.plan import SweepSpec
from positronic_core.evaluate.sweep.runner import SweepOutcome
from positronic_core.wording import plural

GROUPS = ["model", "checkpoint", "task"]


def sweep_rows(spec: SweepSpec, models: Sequence[str], seeds: Sequence[int]) -> list[dict]:
    """The review-table rows of the sweep's episodes: DIR/<model>/ datasets, planned seeds only."""
    wanted, planned = set(models), set(seeds)
    rows = report.load_runs(spec.output_dir).rows
    return [row for row in rows if row["dataset"] in wanted and row["seed"] in planned]


def print_report(spec: SweepSpec, models: Sequence[str], seeds: Sequence[int], outcome: SweepOutcome,
                 resamples: int, out: TextIO) -> None:
    lines = [f"sweep of {plural(len(models), 'model')} x {plural(len(seeds), 'seed')} "
             f"({spec.source.describe()}): {outcome.recorded} of {outcome.planned} planned episodes recorded in "
             f"{spec.output_dir}"]
    if outcome.resumed:
        lines.append(f"  {outcome.resumed} were already recorded (resumed)")
    if outcome.retried:
        lines.append(f"  {plural(len(outcome.retried), 'task')} run again after a worker died: "
                     f"{', '.join(map(str, outcome.retried))}")
    if outcome.rerun_after_drop:
        lines.append(f"  {plural(len(outcome.rerun_after_drop), 'task')} run again after the server dropped its "
                     f"session: {', '.join(map(str, outcome.rerun_after_drop))}")
    for failure in outcome.failures:
        lines.append(f"  failed: {failure}")
    print("\n".join(lines) + "\n", file=out)
    rows = sweep_rows(spec, models, seeds)
    if rows:
        print(report.format_table(report.summarize(rows, GROUPS), GROUPS), file=out)
        comparison = report.compare_all_models(rows, resamples=resamples)
        if comparison is not None:
            print("\n" + format_model_comparison(comparison), file=out)
    if outcome.decision is not None:
        decision = outcome.decision
        print("\nstopping rule (--until-decided):\n" + decision.describe(), file=out)
    print(f"\nfigures: positronic-eval report {spec.output_dir} --html=report.html", file=out, flush=True)
