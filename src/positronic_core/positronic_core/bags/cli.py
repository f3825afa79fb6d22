"""`positronic-bag2dataset BAG... --output_dir=DIR`: convert episode bags into a Positronic dataset."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from positronic_core.bags.bag_reader import BACKENDS
from positronic_core.bags.convert import convert_bags, validate_bags
from positronic_core.bags.errors import ConversionError
from positronic_core.bags.progress import StderrProgress
from positronic_core.dataset.errors import DatasetError
from positronic_core.wording import plural

_DESCRIPTION = """\
Convert rosbag2 episode recordings (one bag per episode, MCAP or SQLite) into episodes of a Positronic dataset,
appended after the episodes already in DIR. Every bag is validated completely before anything is written: if any
bag is refused (missing /joint_states or cameras, truncated or corrupt storage, undecodable messages) the command
names it, writes nothing, and exits with status 1. A report per bag (messages per topic, frames per camera, largest
gap per topic, dropped samples, skipped topics, statics) goes to stdout; progress goes to stderr.
No ROS install is needed; with ROS 2 sourced, rosbag2_py reads the bags instead of rosbags (see --reader)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="positronic-bag2dataset",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "bags",
        nargs="+",
        type=Path,
        metavar="BAG",
        help="a bag directory (holding metadata.yaml), or a single .mcap or .db3 file; each becomes one episode",
    )
    parser.add_argument(
        "--output_dir",
        "--output-dir",
        dest="output_dir",
        type=Path,
        metavar="DIR",
        help="dataset directory to append the episodes to (created if missing); required unless --check",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the bags and print their reports without writing anything",
    )
    parser.add_argument(
        "--reader",
        choices=BACKENDS,
        default="auto",
        help="bag reader: rosbag2_py when ROS 2 is sourced, else rosbags (auto, the default), or force one",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr (reports still go to stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.check and args.output_dir is None:
        parser.error("--output_dir is required (or pass --check to validate only)")
    progress = None if args.quiet else StderrProgress()
    try:
        if args.check:
            reports = validate_bags(args.bags, progress=progress or False, backend=args.reader)
        else:
            reports = convert_bags(args.bags, args.output_dir, progress=progress or False, backend=args.reader)
    except ConversionError as exc:
        if progress is not None:
            progress.end_line()
        for report in exc.converted:
            print(report.format())
        for error in exc.errors:
            print(f"positronic-bag2dataset: {error}", file=sys.stderr)
        if exc.converted:
            written = ", ".join(str(report.episode) for report in exc.converted)
            print(f"positronic-bag2dataset: stopped; episodes written before the failure: {written}", file=sys.stderr)
        else:
            print("positronic-bag2dataset: nothing was written", file=sys.stderr)
        return 1
    except (DatasetError, ValueError) as exc:
        print(f"positronic-bag2dataset: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if progress is not None:
            progress.end_line()
        print("positronic-bag2dataset: interrupted; the episode being written (if any) was removed", file=sys.stderr)
        return 130
    for report in reports:
        print(report.format())
    done = "validated" if args.check else f"converted into {args.output_dir}"
    print(f"{plural(len(reports), 'bag')} {done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
