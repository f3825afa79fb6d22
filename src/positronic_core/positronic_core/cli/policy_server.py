"""`positronic-policy-server`: serve LeRobot ACT, OpenPI and GR00T checkpoints (or a model-free test backend) over
protocol v1."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import configuronic as cfn

from positronic_core import allocator
from positronic_core.cli.runner import run
from positronic_core.codecs import get_codec
from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.models.lerobot_act import MissingDependencyError, load_act_checkpoint, require_act_dependencies
from positronic_core.serve import vendor_process
from positronic_core.serve.checkpoint_source import CheckpointSource
from positronic_core.serve.model import ModelSource
from positronic_core.serve.server import BindError, PolicyServer, ServerConfig
from positronic_core.wire.access_token import TokenConfigError, resolve_token

PROG = "positronic-policy-server"


class UsageError(ValueError):
    """A flag combination the chosen backend cannot serve."""


@dataclass(frozen=True)
class BackendOptions:
    """The model flags, as each backend's source factory receives them."""

    checkpoints_dir: str | None
    checkpoint: str | None
    codec: str
    device: str
    vendor_command: str | None
    vendor_cwd: str | None
    vendor_timeout_s: float
    #: The positional subcommand (`positronic-policy-server ee_rot6d_joints --backend=groot ...`), if any.
    variant: str | None


def _checkpoints_dir(options: BackendOptions, backend: str) -> str:
    if not options.checkpoints_dir:
        raise UsageError(f"--checkpoints_dir is required for --backend={backend}")
    return options.checkpoints_dir


def _no_variant(options: BackendOptions, backend: str) -> None:
    if options.variant is not None:
        raise UsageError(f"--backend={backend} takes no variant, got {options.variant!r}")


def _lerobot_source(options: BackendOptions) -> ModelSource:
    _no_variant(options, "lerobot")
    checkpoints_dir = _checkpoints_dir(options, "lerobot")
    # Checked now, not when the first robot connects: a server that lists models it cannot load would fail
    # every client instead of its operator.
    require_act_dependencies()
    codec = get_codec(options.codec)
    registry = CheckpointRegistry(Path(checkpoints_dir), options.checkpoint)
    return CheckpointSource(
        registry, lambda path, progress: load_act_checkpoint(path, codec, device=options.device, progress=progress))


def _hold_pose_source(options: BackendOptions) -> ModelSource:
    _no_variant(options, "hold_pose")
    from positronic_core.serve.backends.hold_pose import HoldPoseSource

    return HoldPoseSource()


def _openpi_source(options: BackendOptions) -> ModelSource:
    from positronic_core.serve.backends import openpi

    _no_variant(options, "openpi")
    return openpi.openpi_source(
        _checkpoints_dir(options, "openpi"), get_codec(options.codec), checkpoint=options.checkpoint,
        command=options.vendor_command or openpi.DEFAULT_COMMAND, cwd=options.vendor_cwd or openpi.DEFAULT_CWD,
        start_timeout_s=options.vendor_timeout_s)


def _groot_source(options: BackendOptions) -> ModelSource:
    from positronic_core.codecs.groot import DEFAULT_VARIANT, get_variant
    from positronic_core.serve.backends import groot

    variant = get_variant(options.variant or DEFAULT_VARIANT)
    return groot.groot_source(
        _checkpoints_dir(options, "groot"), variant, checkpoint=options.checkpoint, command=options.vendor_command,
        cwd=options.vendor_cwd or groot.DEFAULT_VENDOR_CWD, start_timeout_s=options.vendor_timeout_s)


#: Backend name -> its model source factory. A vendor backend starts the vendor's own server per checkpoint
#: (`serve.vendor_source`) from --vendor_command in --vendor_cwd; one taking variants reads `options.variant`.
BACKENDS: dict[str, Callable[[BackendOptions], ModelSource]] = {
    "lerobot": _lerobot_source,
    "openpi": _openpi_source,
    "groot": _groot_source,
    "hold_pose": _hold_pose_source,
}


def serve(checkpoints_dir: str | None = None, codec: str = "ee", backend: str = "lerobot",
          checkpoint: str | None = None, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu",
          batching: bool = True, max_loaded_models: int = 1, max_frame_mb: float = 32.0,
          auth_token: str | None = None, insecure: bool = False, openpi_port: int | None = None,
          openpi_layout: str = "ee", vendor_command: str | None = None, vendor_cwd: str | None = None,
          vendor_timeout_s: float = 600.0, variant: str | None = None, preload: bool = False) -> None:
    """Serve policies over Positronic's WebSocket inference protocol v1.

    Clients connect to ws://HOST:PORT/api/v1/session (the default model) or /api/v1/session/<model_id>;
    `curl http://HOST:PORT/api/v1/models` lists the model ids. `GET /api/v1/health` (no token needed) answers 200
    {"status": "ready"} when sessions may come, else 503 with "loading" (see --preload) or "error" (no model to
    serve, or the preload failed); for load balancers and container health checks. Upstream positronic 0.2.x and
    0.4.x clients connect unchanged; 0.4.x: `positronic-inference sim --policy=.remote --policy.address.host=HOST
    --policy.address.port=PORT` (it always opens the default model).

    Flags:
      --checkpoints_dir=DIR   A training run's output; each numeric step in it is a model id. lerobot:
                              DIR/checkpoints/<step>/pretrained_model/ or DIR/<step>/pretrained_model/;
                              openpi: DIR/<step>/; groot: DIR/checkpoint-<step>/.
      --codec=ee|joints|ee_joints  How observations and actions map to the model: `ee` = EE pose (xyz + wxyz) +
                              grip state, wrist/exterior cameras at 224x224, absolute EE pose + grip actions;
                              `joints` = 7 joint positions + grip, joint-position actions; `ee_joints` = EE pose +
                              grip + joints state, EE actions. Upstream's paths are accepted too
                              (--codec=@positronic.vendors.lerobot.codecs.ee, @positronic.vendors.openpi.codecs.ee).
      --backend=lerobot       `lerobot`: ACT checkpoints loaded with LeRobot 0.4 (0.3.3 checkpoints are migrated at
                              load time). `openpi`: each checkpoint served by openpi's own scripts/serve_policy.py,
                              started by us (see --vendor_command) and reached over openpi's WebSocket wire; the
                              codec's state goes as observation/state, the exterior and wrist cameras as
                              observation/image and observation/wrist_image, the task as prompt. `groot`: GR00T
                              N1.6 checkpoints served by GR00T's own run_gr00t_server.py, started by us and
                              reached over its ZeroMQ wire; VARIANT (not --codec) picks the state/action layout.
                              `hold_pose`: no model; every reply holds the observed pose (to check a deployment
                              end to end).
      VARIANT                 Positional, for backends with model variants; same as --variant=VARIANT. groot:
                              ee (default), ee_joints, ee_rot6d, ee_rot6d_joints, ee_rot6d_rel or
                              ee_rot6d_joints_rel. `ee` = state EE pose (xyz + wxyz quaternion) + grip, action absolute
                              EE pose + grip; `ee_rot6d` = the same with the rotation as 6D (the matrix's first two
                              rows); `*_joints` add the 7 joint positions to the state; `*_rel` serve checkpoints
                              trained on relative actions (GR00T turns them back into absolute poses). The
                              cameras go as wrist_image and exterior_image_1 at 224x224.
      --checkpoint=ID         Model served when a client names none (default: the highest step, re-read at every
                              connection, so it follows a training run).
      --host=127.0.0.1        Address to bind. Anything but loopback needs --auth_token (or $POSITRONIC_AUTH_TOKEN)
                              or an explicit --insecure.
      --port=8000             TCP port for HTTP and WebSocket.
      --device=cpu            Torch device for the lerobot backend: cpu, cuda, cuda:1, mps.
      --batching=True         Run observations from several robots waiting on one model in one forward pass.
      --max_loaded_models=1   Models kept in memory; others load when a session asks for them. Vendor backends
                              (openpi, groot) keep one: a session asking for another checkpoint waits, with
                              `waiting` messages, until every session on the current one has ended.
      --max_frame_mb=32       Largest accepted frame; bigger ones close the session with code 1009.
      --auth_token=TOKEN      Require `Authorization: Bearer TOKEN` on every request.
      --insecure=False        Allow binding beyond loopback without a token.
      --openpi_port=N         Also serve openpi's own wire on port N (off by default), so openpi's
                              `WebsocketClientPolicy(host, N, api_key=TOKEN)` drives any backend; same models, host
                              and token as protocol v1. ws://HOST:N/ opens the default model, ws://HOST:N/<id> another.
      --openpi_layout=ee      What that endpoint's `observation/state` holds, named by the codec with that state:
                              `ee` = EE pose (xyz + wxyz) + grip, `ee_joints` = that + 7 joints, `joints` = 7
                              joints + grip; images `observation/image` (exterior) and `observation/wrist_image`,
                              `prompt` the task. Replies carry `actions` (H, 8): pose (xyz + wxyz) or joints, then
                              grip.
      --vendor_command=CMD    openpi/groot: the command line that starts the vendor's policy server for one
                              checkpoint; {port} becomes a free loopback port we choose and {checkpoint_dir} the
                              checkpoint's directory. Default: what the docker images run, for openpi
                              `uv run --frozen --project /openpi -- python scripts/serve_policy.py --port {port}
                              policy:checkpoint --policy.config pi05_positronic_lowmem --policy.dir
                              {checkpoint_dir}`; for groot `/.venv/bin/python gr00t/eval/run_gr00t_server.py
                              --model_path {checkpoint_dir} --embodiment_tag NEW_EMBODIMENT
                              --modality_config_path gr00t/configs/data/positronic_<VARIANT>.py --host 127.0.0.1
                              --port {port}`. It runs in a process group of its own, stopped when the checkpoint
                              changes or this server exits (SIGTERM, SIGINT).
      --vendor_cwd=DIR        Working directory of --vendor_command (default for openpi: /openpi; for groot:
                              /gr00t).
      --vendor_timeout_s=600  How long a starting vendor server may take to answer before the session gets an
                              error (big checkpoints load and compile for minutes).
      --preload=False         Load the default model as the server starts, so the first session does not wait for
                              it; /api/v1/health says "loading" (503) until it is in memory. For replicas behind a
                              load balancer (docker/compose.yaml's policy-server).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    allocator.keep_large_buffers()
    try:
        if backend not in BACKENDS:
            raise UsageError(f"unknown --backend={backend}; choose one of {', '.join(BACKENDS)}")
        token = resolve_token(auth_token)
        options = BackendOptions(
            checkpoints_dir=checkpoints_dir, checkpoint=None if checkpoint is None else str(checkpoint),
            codec=codec, device=device, vendor_command=vendor_command, vendor_cwd=vendor_cwd,
            vendor_timeout_s=float(vendor_timeout_s), variant=None if variant is None else str(variant))
        source = BACKENDS[backend](options)
        config = ServerConfig(host=host, port=int(port), max_frame_bytes=int(max_frame_mb * 1024 * 1024),
                              batching=bool(batching), max_loaded_models=int(max_loaded_models), auth_token=token,
                              insecure=bool(insecure), openpi_port=None if openpi_port is None else int(openpi_port),
                              openpi_layout=str(openpi_layout), preload=bool(preload))
        server = PolicyServer(source, config)
    except (UsageError, TokenConfigError, MissingDependencyError, FileNotFoundError, LookupError, ValueError) as e:
        raise SystemExit(f"{PROG}: error: {e}") from None
    try:
        asyncio.run(_serve(server, host))
    except BindError as e:
        flag = "--openpi_port" if openpi_port is not None and e.port == int(openpi_port) else "--port"
        hint = f"; {flag}=N picks another port" if e.errno == errno.EADDRINUSE else ""
        raise SystemExit(f"{PROG}: error: {e}{hint}") from None
    except (KeyboardInterrupt, asyncio.CancelledError):  # SIGINT, SIGTERM
        pass
    finally:
        # The pool closes models on their own threads; a vendor server must be gone before we are.
        vendor_process.stop_all()


async def _serve(server: PolicyServer, host: str) -> None:
    # SIGTERM (docker stop, systemd) unwinds like Ctrl-C, so the server closes its models and stops vendor servers.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    await server.start()
    print(f"{PROG}: models {server.source.list_models()} on http://{host}:{server.port}/api/v1/models", flush=True)
    if server.openpi is not None:
        print(f"{PROG}: openpi clients connect to ws://{host}:{server.openpi.port}", flush=True)
    try:
        await server.serve_forever()
    finally:
        # Now, not after asyncio.run: it waits for loader threads, and one waiting for a vendor to come up would
        # hold the exit until the vendor's start-up timeout.
        vendor_process.stop_all()


def command_line(argv: Sequence[str]) -> list[str]:
    """Our flags as the config runner takes them. One bare word, wherever it stands, is the variant (a docker entry
    point `positronic-policy-server --backend=groot` is followed by the user's `ee_rot6d_joints --flag=...`); an
    upstream codec path (`--codec=@positronic...`) stays the literal name our codec catalog knows, not an import."""
    args = list(argv)
    words = [a for a in args if not a.startswith("-")]
    if len(words) == 1:
        args.remove(words[0])
        args.insert(0, f"--variant={words[0]}")
    return [f"--codec=@{a[len('--codec='):]}" if a.startswith("--codec=@") else a for a in args]


def main() -> None:
    run(cfn.Config(serve), command_line(sys.argv[1:]), prog=PROG)


if __name__ == "__main__":
    main()
