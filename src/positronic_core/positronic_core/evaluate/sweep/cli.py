"""`positronic-eval sweep`: the flags, their checks, and the report a sweep ends with."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from positronic_core.evaluate.sweep.plan import EpisodeSettings, ModelSource, SweepSpec, check_model_name
from positronic_core.stacking_task import CAMERAS, TASK

PROG = "positronic-eval sweep"
DEFAULT_DELTA = 0.2

DESCRIPTION = f"""\
Run every (model, seed) episode of an evaluation as one task, on a local process pool or a Ray cluster, record
each into DIR/<model>/ and end with the comparison report (`positronic-eval report DIR` reads the same episodes).

Seeds are paired across models: episode seed S of every model starts from the same cube placement, and the
episode's id in DIR/<model>/ is its seed. An episode appears in its model's dataset whole or not at all: it is
recorded beside it (DIR/<model>/.partial/) and renamed into place when finished. A task whose worker process dies
is run once more; the local pool stops every worker when one dies, so the tasks running beside it are run again
too. The same command run again resumes: episodes already recorded (found by their sweep.model and sweep.seed
statics) are skipped. A task's error (server gone, model refused) stops the sweep after the episodes in flight.

The simulation flags (below) define what an episode is, so the first sweep into DIR keeps them in DIR/sweep.json;
a later one whose simulation flags differ while DIR holds episodes stops before running anything and names each
flag that differs: give the original flags to resume, or a new --output_dir. The other flags (models, plan, where
tasks run) are not checked. A DIR from before sweep.json resumes unchecked.

--until-decided[=DELTA] stops adding seeds once every pair of models is decided at 95% by an anytime-valid
sequential test (testing by betting, evaluate.sequential): one is better, or no difference of DELTA or more
(default {DEFAULT_DELTA}); the report says how many of the planned episodes that saved.

Local ACT checkpoints (--checkpoints_dir) need torch and LeRobot in every worker; each worker loads a checkpoint
once and keeps its simulator between episodes. Ray's workers must import the same positronic_core; --ray=local
starts `ray start --head` on 127.0.0.1 with a fresh authentication token and ends it with the sweep, and a cluster
with token authentication is joined with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set, as any Ray driver joins it.
"""


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = commands.add_parser("sweep", help="run (model, seed) episodes on a pool or Ray, then compare",
                            description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_argument_group("models (one of --server, --checkpoints_dir)")
    where.add_argument("--server", metavar="HOST:PORT", help="a policy server (positronic-policy-server)")
    where.add_argument("--checkpoints_dir", metavar="DIR",
                       help="a LeRobot ACT training directory, run in the workers (each step is a model)")
    where.add_argument("--models", default="all",
                       help="comma-separated model ids (server ids or checkpoint steps), or all (default)")
    where.add_argument("--codec", default="ee", choices=("ee", "joints"),
                       help="with --checkpoints_dir: ee (end-effector pose actions, default) or joints")
    where.add_argument("--device", default="cpu", help="with --checkpoints_dir: torch device (default cpu)")
    plan = p.add_argument_group("plan")
    plan.add_argument("--episodes", type=int, default=10, help="seeds per model (default 10)")
    plan.add_argument("--seed", type=int, default=0, help="first seed; the seeds are SEED .. SEED+EPISODES-1")
    plan.add_argument("--output_dir", required=True, metavar="DIR", help="where DIR/<model>/ datasets go")
    plan.add_argument("--until-decided", "--until_decided", dest="until_decided", nargs="?", type=float,
                      const=DEFAULT_DELTA, metavar="DELTA",
                      help=f"stop once every pair is decided (default DELTA {DEFAULT_DELTA}, a difference in "
                           "success rate or progress)")
    plan.add_argument("--decide_on", default="success", choices=("success", "progress"),
                      help="what --until-decided tests: success (pass/fail, default) or progress (the final "
                           "stacking score, partial credit)")
    run = p.add_argument_group("where tasks run")
    run.add_argument("--workers", type=int,
                     help="tasks at a time (default: this machine's CPUs; with --ray, the cluster's CPUs)")
    run.add_argument("--ray", metavar="local|auto|ADDRESS",
                     help="run on Ray: local starts a cluster on 127.0.0.1 for this sweep and stops it after; "
                          "auto joins this machine's cluster; HOST:PORT joins that head node")
    sim = p.add_argument_group("simulation (as positronic-inference sim; kept in DIR/sweep.json, a rerun must match)")
    sim.add_argument("--driver.simulation_time", dest="simulation_time", type=float, default=15.0,
                     help="simulated seconds per episode (default 15)")
    sim.add_argument("--driver.task", dest="task", default=TASK, help="the instruction sent to the policy")
    sim.add_argument("--policy_fps", type=float, default=15.0, help="control rate in Hz (default 15)")
    sim.add_argument("--simulate_timeout", default="False", choices=("True", "False"),
                     help="charge the measured inference time to simulated time (default False)")
    sim.add_argument("--camera_width", type=int, default=320, help="camera width in pixels, even (default 320)")
    sim.add_argument("--camera_height", type=int, default=240, help="camera height in pixels, even (default 240)")
    sim.add_argument("--cameras", default=",".join(CAMERAS),
                     help=f"cameras rendered and recorded, comma-separated (default {','.join(CAMERAS)})")
    sim.add_argument("--render_quality", default="fast", choices=("fast", "default"),
                     help="fast (no shadows or multisampling) or default (MuJoCo's own)")
    pol = p.add_argument_group("server connection (with --server)")
    pol.add_argument("--policy.resize", dest="resize", type=int, default=640,
                     help="downscale images whose longest side exceeds this many pixels (default 640)")
    pol.add_argument("--policy.token", dest="token", help="bearer token (default: $POSITRONIC_AUTH_TOKEN)")
    pol.add_argument("--policy.connect_timeout", dest="connect_timeout", type=float, default=10.0,
                     help="seconds to wait for the server to accept a session (default 10)")
    pol.add_argument("--policy.infer_timeout", dest="infer_timeout", type=float, default=120.0,
                     help="seconds to wait for one chunk of actions (default 120)")
    rep = p.add_argument_group("report")
    rep.add_argument("--resamples", type=int, default=2000,
                     help="bootstrap resamples of the paired comparison (default 2000)")
    return p


class SweepUsageError(ValueError):
    pass


def build_spec(args: argparse.Namespace) -> tuple[SweepSpec, int | None]:
    """The spec and the worker count the flags ask for, or SweepUsageError naming the flag."""
    if (args.server is None) == (args.checkpoints_dir is None):
        raise SweepUsageError("give one of --server=HOST:PORT and --checkpoints_dir=DIR")
    server = None
    if args.server is not None:
        host, _, port = args.server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SweepUsageError(f"--server must be HOST:PORT, got {args.server!r}")
        server = (host, int(port))
    if args.episodes < 1:
        raise SweepUsageError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed < 0:
        raise SweepUsageError(f"--seed must be at least 0, got {args.seed}")
    if args.workers is not None and args.workers < 1:
        raise SweepUsageError(f"--workers must be at least 1, got {args.workers}")
    if args.until_decided is not None and not 0 < args.until_decided < 1:
        raise SweepUsageError(f"--until-decided DELTA must be between 0 and 1, got {args.until_decided}")
    if not args.simulation_time > 0 or not args.policy_fps > 0:
        raise SweepUsageError("--driver.simulation_time and --policy_fps must be positive")
    for flag, pixels in (("--camera_width", args.camera_width), ("--camera_height", args.camera_height)):
        if pixels < 2 or pixels % 2:
            raise SweepUsageError(f"{flag} must be an even number of pixels >= 2, got {pixels}")
    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    unknown = [c for c in cameras if c not in CAMERAS]
    if not cameras or unknown:
        raise SweepUsageError(f"--cameras must name some of {', '.join(CAMERAS)}, got {args.cameras!r}")
    if args.resamples < 1:
        raise SweepUsageError(f"--resamples must be at least 1, got {args.resamples}")
    settings = EpisodeSettings(simulation_time=args.simulation_time, task=args.task, policy_fps=args.policy_fps,
                               simulate_timeout=args.simulate_timeout == "True", camera_width=args.camera_width,
                               camera_height=args.camera_height, cameras=cameras,
                               render_quality=args.render_quality)
    token = args.token if args.token is not None else (os.environ.get("POSITRONIC_AUTH_TOKEN") or None)
    source = ModelSource(server=server, checkpoints_dir=args.checkpoints_dir, codec=args.codec, device=args.device,
                         resize=args.resize, token=token, connect_timeout=args.connect_timeout,
                         infer_timeout=args.infer_timeout)
    return SweepSpec(Path(args.output_dir).expanduser().resolve(), source, settings), args.workers


def choose_models(requested: str, available: list[str], source: str) -> list[str]:
    if not available:
        raise SweepUsageError(f"{source} has no models")
    if requested.strip() == "all":
        models = list(available)
    else:
        models = [m.strip() for m in requested.split(",") if m.strip()]
        unknown = [m for m in models if m not in available]
        if unknown or not models:
            named = ", ".join(map(repr, unknown)) or repr(requested)
            raise SweepUsageError(f"unknown model {named} at {source}; available: {', '.join(available)}")
        if len(set(models)) != len(models):
            raise SweepUsageError(f"--models names a model twice: {requested}")
    for model in models:
        try:
            check_model_name(model)
        except ValueError as exc:
            raise SweepUsageError(str(exc)) from None
    return models


def main(args: argparse.Namespace) -> int:
    from positronic_core.dataset.errors import DatasetError
    from positronic_core.dataset.writer import DatasetWriter
    from positronic_core.evaluate.sweep.conditions import ConditionsError
    from positronic_core.evaluate.sweep.placement import PlacementError
    from positronic_core.evaluate.sweep.pools import LocalPool, PoolError, RayPool
    from positronic_core.evaluate.sweep.report import print_report
    from positronic_core.evaluate.sweep.runner import StoppingRule, run_sweep
    from positronic_core.wire.client import InferenceError

    def fail(message: str, code: int = 2) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        return code

    try:
        spec, workers = build_spec(args)
        available = spec.source.list_models()
        models = choose_models(args.models, available, spec.source.describe())
        if args.until_decided is not None and len(models) < 2:
            raise SweepUsageError("--until-decided compares models: name at least two")
        DatasetWriter(spec.output_dir).preflight()
    except SweepUsageError as exc:
        return fail(str(exc))
    except (InferenceError, DatasetError) as exc:
        return fail(str(exc), 1)
    except (OSError, ValueError, LookupError) as exc:
        return fail(f"{spec.source.describe()}: {exc}", 1)
    seeds = list(range(args.seed, args.seed + args.episodes))
    rule = None if args.until_decided is None else StoppingRule(args.until_decided, args.decide_on)

    def make_pool():
        if args.ray is None:
            return LocalPool(spec, workers or os.cpu_count() or 1)
        return RayPool(spec, args.ray, workers)

    try:
        outcome = run_sweep(spec, models, seeds, make_pool, sys.stderr, rule)
    except PoolError as exc:
        return fail(str(exc), 1)
    except PlacementError as exc:
        return fail(str(exc), 1)
    except ConditionsError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished episodes are kept, run the same command to resume", file=sys.stderr)
        return 130
    print_report(spec, models, seeds, outcome, args.resamples, sys.stdout)
    if outcome.failures:
        first = outcome.failures[0]
        more = f" (and {len(outcome.failures) - 1} more)" if len(outcome.failures) > 1 else ""
        return fail(f"{first}{more}", 1)
    return 0
