"""`positronic-eval report DIR`: success rates, intervals, partial credit and failure modes of recorded episodes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from positronic_core.evaluate import report
from positronic_core.evaluate.comparison_text import format_model_comparison
from positronic_core.evaluate.sweep import cli as sweep_cli

DESCRIPTION = """\
Summarise the outcomes of every episode under DIR (a dataset, or a directory with datasets below it).

Outcome of an episode: a manual score from the review page or API (<dataset>/scores.jsonl) if there is one,
else the verdict recorded with it (eval.outcome from an operator, eval.success, eval.auto_success), else the
simulator's stacking score (success = stacking_success >= 0.95 held for 0.5 s). Episodes with none are counted
as runs but not scored. Clips exported from the review page are not evaluation runs and are left out.

Per group: runs, scored, success rate with a 95% Wilson score interval (partial is not a success), partial
credit (mean item ratio; success/partial/failure without items count 1/0.5/0), item totals, mean duration and
failure-mode counts (manual tags, or the recorded failure reason).

--compare A B pairs the episodes of checkpoints A and B that ran the same (task, seed) and gives the exact
McNemar test on the discordant pairs. A and B match the checkpoint column, "model:checkpoint", or a model
without checkpoints.

When the scored episodes with a seed come from two or more models ("model:checkpoint"), every pair of models is
compared on the (task, seed) both ran: the difference in success rate (exact McNemar test) and in progress
(partial credit; exact Wilcoxon signed-rank test), each with a paired bootstrap interval (--resamples, seeded so
the report is reproducible); p-values Holm-corrected over all the tests; which metric separated each pair; and a
Bradley-Terry ranking from paired wins with bootstrap rank intervals. --html and --png draw the differences with
their intervals.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="positronic-eval", description="Evaluation reports for recorded episodes.")
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("report", help="success rates per group", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("path", metavar="DIR", help="dataset directory, or a directory with datasets below it")
    rep.add_argument("--by", default=",".join(report.DEFAULT_GROUPS),
                     help=f"comma-separated grouping columns from {', '.join(report.GROUP_KEYS)} "
                          f"(default {','.join(report.DEFAULT_GROUPS)}; empty for one overall row)")
    rep.add_argument("--compare", nargs=2, metavar=("A", "B"), help="paired comparison of two checkpoints")
    rep.add_argument("--confidence", type=float, default=0.95, help="interval confidence level (default 0.95)")
    rep.add_argument("--resamples", type=int, default=report.DEFAULT_RESAMPLES,
                     help="bootstrap resamples for the paired model comparison "
                          f"(default {report.DEFAULT_RESAMPLES}; fewer is faster and noisier)")
    out = rep.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON instead of a table")
    out.add_argument("--csv", action="store_true", help="print CSV (one row per group) instead of a table")
    rep.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with a chart")
    rep.add_argument("--png", metavar="FILE", help="also write the chart as a PNG image")
    sweep_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sweep":
        return sweep_cli.main(args)
    try:
        return _report(args)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and Python must not complain while flushing at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _report(args: argparse.Namespace) -> int:
    path = Path(args.path).expanduser()
    by = [key.strip() for key in args.by.split(",") if key.strip()]
    try:
        report.check_groups(by)
        if not 0 < args.confidence < 1:
            raise ValueError(f"--confidence must be between 0 and 1, got {args.confidence}")
        if not path.is_dir():
            raise ValueError(f"{path} is not a directory")
        runs = report.load_runs(path)
        stats = report.summarize(runs.rows, by, args.confidence)
        if args.resamples < 1:
            raise ValueError(f"--resamples must be at least 1, got {args.resamples}")
        comparison = report.compare(runs.rows, *args.compare) if args.compare else None
        models = report.compare_all_models(runs.rows, args.confidence, args.resamples)
    except ValueError as exc:
        print(f"positronic-eval: error: {exc}", file=sys.stderr)
        return 2
    if runs.unreadable:
        print(f"positronic-eval: warning: left out {report.counted(len(runs.unreadable), 'unreadable episode')}, "
              f"first {runs.unreadable[0]}", file=sys.stderr)
    if not runs.rows:
        clips = f" ({report.counted(runs.clips, 'clip')}, which are not evaluation runs)" if runs.clips else ""
        print(f"positronic-eval: no finished episodes under {path}{clips}", file=sys.stderr)
        return 1
    # The figures first: a reader that stops early (`| head`) must not cost them.
    written = []
    if args.html or args.png:
        from positronic_core.evaluate import charts

        try:
            if args.html:
                charts.write_html(Path(args.html), stats, by, str(path), comparison, models)
                written.append(f"wrote the HTML report to {Path(args.html).resolve()}")
            if args.png:
                charts.write_png(Path(args.png), stats, models=models)
                written.append(f"wrote the chart to {Path(args.png).resolve()}")
        except OSError as exc:
            print(f"positronic-eval: error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 1
    if args.json:
        print(report.to_json(stats, by, comparison, models))
    elif args.csv:
        sys.stdout.write(report.to_csv(stats, by))
    else:
        scored = sum(s.scored for s in stats)
        left_out = []
        if runs.clips:
            left_out.append(report.counted(runs.clips, "clip"))
        if runs.dropped:
            left_out.append(f"{report.counted(runs.dropped, 'episode')} dropped by edit logs")
        clips = f" ({', '.join(left_out)} left out)" if left_out else ""
        print(f"{report.counted(len(runs.rows), 'episode')} under {path}{clips}, {scored} with an outcome\n")
        print(report.format_table(stats, by))
        if comparison is not None:
            print("\n" + report.format_comparison(comparison))
        if models is not None:
            print("\n" + format_model_comparison(models))
    sys.stdout.flush()
    # Machine-readable output keeps stdout to itself; these notes then go to stderr.
    for line in written:
        print(line, file=sys.stderr if args.json or args.csv else sys.stdout, flush=True)
    return 0


def run() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    run()
