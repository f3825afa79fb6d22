"""`validate-server`: run every model a policy server lists through the same simulated episodes, then compare them.

A server without a model listing (upstream 0.4.x: `GET /api/v1/models` is 404, one model per server) is validated
on the one model it serves: the session's handshake names it (`checkpoint_id`), and sessions name no model.

Each model records into its own dataset, `<output_dir>/<model_id>/`, so a checkpoint's episodes never mix with
another's (upstream's utilities/validate_server.py wrote every model into one directory and told them apart only by
a static some servers do not send). Every model runs seeds seed, seed+1, ..., so the paired comparison at the end
sets checkpoints against each other on identical scenes.

A model's session is opened once before its dataset is touched, so a model the server cannot load leaves nothing
on disk. Episodes run on the timed driver, as `positronic-inference sim` runs them; an episode cut short by a
failed session or Ctrl-C is discarded (nothing half-made is left to count), and the model's earlier episodes stay
recorded.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.stacking_task import CAMERAS, TASK
from positronic_core.wire.client import InferenceClient, InferenceError, NoModelListing
from positronic_core.wording import plural

PROG = "validate-server"
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class UsageError(ValueError):
    """A flag value or a model selection that cannot work; nothing has been run or written."""


@dataclass(frozen=True)
class ModelTarget:
    model_id: str
    directory: Path
    #: The server serves only this model, at /api/v1/session (upstream 0.4.x): sessions must not name it.
    only_model: bool = False

    @property
    def session_model(self) -> str | None:
        return None if self.only_model else self.model_id

    def existing_episodes(self) -> int:
        return len(layout.episode_dirs(self.directory))


@dataclass
class ModelResult:
    target: ModelTarget
    summaries: list[Any] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def validate_server(host: str = "localhost", port: int = 8000, output_dir: str | None = None, episodes: int = 10,
                    models: str | Sequence[str] | None = None, simulation_time: float = 15.0, seed: int = 0,
                    task: str = TASK, token: str | None = None, continue_on_error: bool = False,
                    dry_run: bool = False, camera_width: int = 320, camera_height: int = 240,
                    policy_fps: float = 15.0, resize: int | None = 640, simulate_timeout: bool = False,
                    render_quality: str = "fast") -> int:
    """Run every model a Positronic inference server lists through the same simulated episodes and compare them.

    For each model (in the server's order, or --models order), N cube-stacking episodes with seeds seed, seed+1,
    ..., seed+N-1 are recorded into OUTPUT_DIR/<model_id>/, one Positronic dataset per model (appended to if it
    exists). The end prints success rates with 95% Wilson intervals per model/checkpoint over everything under
    OUTPUT_DIR and, when exactly two models ran, their paired comparison on the shared seeds (exact McNemar).

    Flags:
      --host=localhost --port=8000   The policy server: ours, upstream 0.2.x, or upstream 0.4.x (one model per
                                     server, validated as the one model; its client stack runs here).
      --output_dir=DIR               Required. Each model's episodes go to DIR/<model_id>/.
      --episodes=10                  Episodes per model.
      --models=ID,ID                 Only these models, in this order (default: all the server lists, or the one
                                     it serves).
      --simulation_time=15           Seconds of simulated time per episode.
      --seed=0                       Episode i of every model uses seed+i, so models see identical scenes.
      --task="..."                   Instruction sent to the policy and recorded with each episode.
      --token=TOKEN                  Bearer token for a server bound beyond loopback (default:
                                     $POSITRONIC_AUTH_TOKEN).
      --continue_on_error=False      A model whose session fails (refused, server error mid-episode) stops the run;
                                     with True it is reported and the next model runs. Either way the exit code is
                                     1 if any model failed.
      --dry_run=False                Print the plan (models, episodes, seeds, directories) and run nothing.
      --camera_width=320 --camera_height=240
      --policy_fps=15                Control rate: one action per tick.
      --resize=640                   Client-side downscale of images whose longest side exceeds it (None: never).
      --simulate_timeout=False       Charge measured inference time to simulated time.
      --render_quality=fast          `fast` or `default` (MuJoCo's shadows and multisampling).

    Exit codes: 0 every model ran; 1 a model failed or the server could not be reached; 2 bad flags.
    """
    try:
        settings = _Settings.check(host, port, output_dir, episodes, simulation_time, seed, task, token,
                                   camera_width, camera_height, policy_fps, resize, render_quality)
    except (UsageError, ValueError) as e:
        return _error(str(e), 2)
    client = InferenceClient(settings.host, settings.port, token=settings.token)
    only_model = False
    try:
        try:
            available = client.list_models()
        except NoModelListing:
            available, only_model = [client.only_model_id()], True
    except InferenceError as e:
        return _error(f"{e}; nothing was run")
    try:
        targets = plan(available, models, settings.root, client.where, only_model=only_model)
    except UsageError as e:
        return _error(str(e), 2)
    print_plan(targets, settings, client.where)
    if dry_run:
        print("dry run: nothing was run or written", flush=True)
        return 0
    return _run_all(targets, settings, bool(continue_on_error), bool(simulate_timeout))


@dataclass(frozen=True)
class _Settings:
    host: str
    port: int
    root: Path
    episodes: int
    simulation_time: float
    seed: int
    task: str
    token: str | None
    camera_size: tuple[int, int]
    policy_fps: float
    resize: int | None
    render_quality: str

    @classmethod
    def check(cls, host: Any, port: Any, output_dir: Any, episodes: Any, simulation_time: Any, seed: Any,
              task: Any, token: Any, camera_width: Any, camera_height: Any, policy_fps: Any, resize: Any,
              render_quality: Any) -> _Settings:
        from positronic_core.wire.access_token import TokenConfigError, resolve_token

        if output_dir is None or not str(output_dir).strip():
            raise UsageError("--output_dir is required: each model's episodes go to OUTPUT_DIR/<model_id>/")
        root = Path(str(output_dir)).expanduser()
        if root.exists() and not root.is_dir():
            raise UsageError(f"--output_dir {root} exists and is not a directory")
        if not str(host).strip():
            raise UsageError("--host must name the policy server")
        port = _integer("port", port, 1)
        if port > 65535:
            raise UsageError(f"--port must be at most 65535, got {port}")
        if _number("simulation_time", simulation_time) <= 0:
            raise UsageError(f"--simulation_time must be positive, got {simulation_time}")
        if _number("policy_fps", policy_fps) <= 0:
            raise UsageError(f"--policy_fps must be positive, got {policy_fps}")
        try:
            token = resolve_token(None if token is None else str(token))
        except TokenConfigError as e:
            raise UsageError(f"--token: {e}") from None
        return cls(host=str(host).strip(), port=port, root=root, episodes=_integer("episodes", episodes, 1),
                   simulation_time=float(simulation_time), seed=_integer("seed", seed, None), task=str(task),
                   token=token,
                   camera_size=(_integer("camera_width", camera_width, 1),
                                _integer("camera_height", camera_height, 1)),
                   policy_fps=float(policy_fps), resize=None if resize is None else _integer("resize", resize, 1),
                   render_quality=str(render_quality))

    @property
    def seeds(self) -> str:
        last = self.seed + self.episodes - 1
        return f"seed {self.seed}" if last == self.seed else f"seeds {self.seed}..{last}"


def _integer(flag: str, value: Any, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UsageError(f"--{flag} must be a whole number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"--{flag} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise UsageError(f"--{flag} must be at least {minimum}, got {number}")
    return number


def _number(flag: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"--{flag} must be a number, got {value!r}")
    return float(value)


def parse_model_ids(models: str | Sequence[Any] | None) -> list[str] | None:
    """`--models` as a list of ids: a comma-separated string (brackets and quotes tolerated) or a sequence."""
    if models is None:
        return None
    if isinstance(models, str):
        items = [item.strip().strip("'\"").strip() for item in models.strip().strip("[]()").split(",")]
    elif isinstance(models, (list, tuple)):
        items = [str(item).strip() for item in models]
    else:
        items = [str(models).strip()]
    ids = list(dict.fromkeys(item for item in items if item))
    if not ids:
        raise UsageError("--models is empty; leave it out to run every model the server lists")
    return ids


def directory_name(model_id: str) -> str:
    """A model id as one directory name: path separators and other unsafe characters become `_`.

    Names the dataset readers treat specially are prefixed with `model-`: a leading dot (skipped as hidden) and
    twelve digits (read as an episode block of a dataset rooted at the output directory).
    """
    name = _UNSAFE_NAME_CHARS.sub("_", model_id)
    if not name or name.startswith(".") or layout.parse_id(name) is not None:
        name = f"model-{name}"
    return name


def plan(available: Sequence[str], models: str | Sequence[Any] | None, root: Path,
         where: str, only_model: bool = False) -> list[ModelTarget]:
    """The models to run, each with its dataset directory; UsageError if a requested id is not served.
    `only_model`: `available` is the one model a server without a listing serves."""
    if not available:
        raise UsageError(f"the policy server at {where} lists no models; nothing to validate")
    wanted = parse_model_ids(models)
    if wanted is None:
        wanted = list(dict.fromkeys(available))
    else:
        missing = [m for m in wanted if m not in available]
        if missing:
            listed = "serves only" if only_model else "lists"
            raise UsageError(f"model(s) {', '.join(missing)} not {'served' if only_model else 'listed'} by the "
                             f"policy server at {where}; it {listed}: {', '.join(available)}")
    targets, seen = [], {}
    for model_id in wanted:
        name = directory_name(model_id)
        if name in seen:
            raise UsageError(f"models {seen[name]!r} and {model_id!r} would share the directory {root / name}; "
                             "select one of them with --models")
        seen[name] = model_id
        targets.append(ModelTarget(model_id, root / name, only_model))
    return targets


def print_plan(targets: Sequence[ModelTarget], settings: _Settings, where: str) -> None:
    print(f"policy server {where}: {plural(len(targets), 'model')}, {plural(settings.episodes, 'episode')} each "
          f"({settings.seeds}, {settings.simulation_time:g} s simulated), into {settings.root}", flush=True)
    for i, target in enumerate(targets, 1):
        existing = target.existing_episodes()
        state = f"appends to {plural(existing, 'existing episode')}" if existing else "new dataset"
        print(f"  [{i}/{len(targets)}] {target.model_id} -> {target.directory} ({state})", flush=True)


def _run_all(targets: Sequence[ModelTarget], settings: _Settings, continue_on_error: bool,
             simulate_timeout: bool) -> int:
    from positronic_core.dataset.errors import DatasetError
    from positronic_core.sim.stack_cubes import StackCubesSim

    try:
        robot = StackCubesSim(camera_size=settings.camera_size, cameras=CAMERAS,
                              render_quality=settings.render_quality)
    except ValueError as e:
        return _error(f"{e} (check --camera_width, --camera_height, --render_quality)", 2)
    results: list[ModelResult] = []
    interrupted = False
    try:
        for i, target in enumerate(targets, 1):
            position = f"{i}/{len(targets)}"
            try:
                result = _run_model(robot, target, settings, position, simulate_timeout)
            except DatasetError as e:
                results.append(ModelResult(target, error=str(e)))
                _error(f"cannot record model {target.model_id}: {e}; stopping")
                break
            except KeyboardInterrupt:
                results.append(ModelResult(target, error="interrupted"))
                print("interrupted", file=sys.stderr, flush=True)
                interrupted = True
                break
            results.append(result)
            if not result.ok:
                _error(f"model {target.model_id} ({position}) failed: {result.error}")
                if not continue_on_error:
                    print(f"{PROG}: stopping (pass --continue_on_error=True to go on with the next model)",
                          file=sys.stderr, flush=True)
                    break
    finally:
        robot.close()
    _print_outcome(targets, results)
    print_report(settings.root, [r for r in results if r.summaries])
    if interrupted:
        return 130
    return 0 if len(results) == len(targets) and all(r.ok for r in results) else 1


def _run_model(robot: Any, target: ModelTarget, settings: _Settings, position: str,
               simulate_timeout: bool) -> ModelResult:
    from positronic_core.policy.remote import RemotePolicy
    from positronic_core.runtime.drivers.timed import TimedDriver
    from positronic_core.runtime.run_statics import simulation_statics
    from positronic_core.runtime.sim_runtime import SimRuntime

    print(f"\n[{position}] model {target.model_id}: {plural(settings.episodes, 'episode')}, {settings.seeds} "
          f"-> {target.directory}", flush=True)
    started = time.monotonic()
    result = ModelResult(target)
    policy = RemotePolicy(settings.host, settings.port, target.session_model, resize=settings.resize,
                          token=settings.token)
    try:
        meta = _open_and_close_session(policy)
    except InferenceError as e:
        result.error = str(e)
        return result
    print(f"[{position}] server ready: {_describe(meta)}", flush=True)
    runtime = SimRuntime(robot, policy, output_dir=target.directory, policy_fps=settings.policy_fps,
                         cameras=CAMERAS, simulate_timeout=simulate_timeout, seed=settings.seed, out=sys.stdout,
                         statics=simulation_statics(settings.render_quality, settings.camera_size))
    driver = TimedDriver(simulation_time=settings.simulation_time, num_iterations=settings.episodes,
                         task=settings.task)
    try:
        driver.run(runtime)
    except InferenceError as e:
        runtime.discard_running("stopped by an error")
        result.error = str(e)
    except BaseException:
        runtime.discard_running("interrupted")
        raise
    finally:
        result.summaries = [s for s in runtime.completed if not s.interrupted]
        runtime.close()
        policy.close()
        result.seconds = time.monotonic() - started
    print(f"[{position}] model {target.model_id}: {runtime.summary()} ({result.seconds:.1f} s)", flush=True)
    return result


def _open_and_close_session(policy: Any) -> dict[str, Any]:
    # Opening a session makes the server load the model and declare its client stack, so a model it cannot load,
    # or a stack this client cannot run, is found before its dataset directory exists.
    policy.new_session({}).close()
    return {key.removeprefix("server."): value for key, value in policy.meta.items() if key.startswith("server.")}


def _describe(meta: Mapping[str, Any]) -> str:
    keys = ("type", "checkpoint_id", "codec", "action_fps", "chunk_size")
    return " ".join(f"{key}={meta[key]}" for key in keys if meta.get(key) not in (None, "")) or "no meta"


def _print_outcome(targets: Sequence[ModelTarget], results: Sequence[ModelResult]) -> None:
    ran = {r.target.model_id for r in results}
    lines = [f"\n{sum(r.ok for r in results)} of {plural(len(targets), 'model')} completed"]
    for r in results:
        if not r.ok:
            kept = f"; {plural(len(r.summaries), 'episode')} recorded before it" if r.summaries else ""
            lines.append(f"  FAILED {r.target.model_id}: {r.error}{kept}")
    not_run = [t.model_id for t in targets if t.model_id not in ran]
    if not_run:
        lines.append(f"  not run: {', '.join(not_run)}")
    print("\n".join(lines), flush=True)


def print_report(root: Path, ran: Sequence[ModelResult]) -> None:
    """The evaluation report over everything under `root`, plus the paired comparison when two models ran."""
    from positronic_core.evaluate import report

    if not root.is_dir():
        return
    try:
        rows = report.load_rows(root)
    except (ValueError, OSError) as e:
        _error(f"cannot read the recorded episodes under {root}: {e}")
        return
    if not rows:
        print(f"no finished episodes under {root}", flush=True)
        return
    by = list(report.DEFAULT_GROUPS)
    stats = report.summarize(rows, by)
    scored = sum(s.scored for s in stats)
    print(f"\n{plural(len(rows), 'episode')} under {root}, {scored} with an outcome\n", flush=True)
    print(report.format_table(stats, by), flush=True)
    if len(ran) == 2:
        labels = [_checkpoint_label(rows, r.target) for r in ran]
        try:
            print("\n" + report.format_comparison(report.compare(rows, *labels)), flush=True)
        except ValueError as e:
            print(f"\nno paired comparison: {e}", flush=True)
    quoted = shlex.quote(str(root.resolve()))
    print(f"\nreview with: positronic-server --dataset.path={quoted} --port=5001\n"
          f"report again: positronic-eval report {quoted}", flush=True)


def _checkpoint_label(rows: Sequence[Mapping[str, Any]], target: ModelTarget) -> str:
    """The checkpoint column of the model's own dataset (a server may name checkpoints apart from model ids)."""
    name = target.directory.name
    labels = {row["checkpoint"] for row in rows if row.get("dataset") == name and row.get("checkpoint")}
    return labels.pop() if len(labels) == 1 else target.model_id


def _error(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code
