"""`positronic-policy-server`: serve LeRobot ACT checkpoints (or a model-free test backend) over protocol v1."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from pathlib import Path

import configuronic as cfn

from positronic_core.cli.runner import run
from positronic_core.codecs import get_codec
from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.models.lerobot_act import MissingDependencyError, load_act_checkpoint, require_act_dependencies
from positronic_core.serve import vendor_process
from positronic_core.serve.checkpoint_source import CheckpointSource
from positronic_core.serve.model import ModelSource
from positronic_core.serve.server import BindError, PolicyServer, ServerConfig
from positronic_core.wire.access_token import TokenConfigError, resolve_token

BACKENDS = ("lerobot", "hold_pose")


def _lerobot_source(checkpoints_dir: str, checkpoint: str | None, codec: str, device: str) -> ModelSource:
    # Checked now, not when the first robot connects: a server that lists models it cannot load would fail
    # every client instead of its operator.
    require_act_dependencies()
    codec_obj = get_codec(codec)
    registry = CheckpointRegistry(Path(checkpoints_dir), checkpoint)
    return CheckpointSource(
        registry, lambda path, progress: load_act_checkpoint(path, codec_obj, device=device, progress=progress))


def serve(checkpoints_dir: str | None = None, codec: str = "ee", backend: str = "lerobot",
          checkpoint: str | None = None, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu",
          batching: bool = True, max_loaded_models: int = 1, max_frame_mb: float = 32.0,
          auth_token: str | None = None, insecure: bool = False, openpi_port: int | None = None,
          openpi_layout: str = "ee") -> None:
    """Serve policies over Positronic's WebSocket inference protocol v1.

    Clients connect to ws://HOST:PORT/api/v1/session (the default model) or /api/v1/session/<model_id>;
    `curl http://HOST:PORT/api/v1/models` lists the model ids. Upstream positronic 0.2.x and 0.4.x clients connect
    unchanged; 0.4.x: `positronic-inference sim --policy=.remote --policy.address.host=HOST
    --policy.address.port=PORT` (it always opens the default model).

    Flags:
      --checkpoints_dir=DIR   LeRobot training output: DIR/checkpoints/<step>/pretrained_model/ or
                              DIR/<step>/pretrained_model/. Each numeric <step> is a model id.
      --codec=ee|joints       How observations and actions map to the model: `ee` = EE pose (xyz + wxyz) + grip
                              state, wrist/exterior cameras as observation.images.left/side at 224x224, absolute EE
                              pose + grip actions; `joints` = 7 joint positions + grip, joint-position actions.
      --backend=lerobot       `lerobot`: ACT checkpoints loaded with LeRobot 0.4 (0.3.3 checkpoints are migrated at
                              load time). `hold_pose`: no model; every reply holds the observed pose (to check a
                              deployment end to end).
      --checkpoint=ID         Model served when a client names none (default: the highest step, re-read at every
                              connection, so it follows a training run).
      --host=127.0.0.1        Address to bind. Anything but loopback needs --auth_token (or $POSITRONIC_AUTH_TOKEN)
                              or an explicit --insecure.
      --port=8000             TCP port for HTTP and WebSocket.
      --device=cpu            Torch device for the model: cpu, cuda, cuda:1, mps.
      --batching=True         Run observations from several robots waiting on one model in one forward pass.
      --max_loaded_models=1   Models kept in memory; others load when a session asks for them.
      --max_frame_mb=32       Largest accepted frame; bigger ones close the session with code 1009.
      --auth_token=TOKEN      Require `Authorization: Bearer TOKEN` on every request.
      --insecure=False        Allow binding beyond loopback without a token.
      --openpi_port=N         Also serve openpi's own wire on port N (off by default), so openpi's
                              `WebsocketClientPolicy(host, N, api_key=TOKEN)` drives any backend; same models, host
                              and token as protocol v1. ws://HOST:N/ opens the default model, ws://HOST:N/<id> another.
      --openpi_layout=ee      What that endpoint's `observation/state` holds: `ee` = EE pose (xyz + wxyz) + grip,
                              `ee_joints` = that + 7 joints, `joints` = 7 joints + grip; images
                              `observation/image` (exterior) and `observation/wrist_image`, `prompt` the task.
                              Replies carry `actions` (H, 8): pose (xyz + wxyz) or joints, then grip.
    """
    if backend not in BACKENDS:
        raise SystemExit(f"positronic-policy-server: error: unknown --backend={backend}; choose one of {BACKENDS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        token = resolve_token(auth_token)
        if backend == "hold_pose":
            from positronic_core.serve.backends.hold_pose import HoldPoseSource

            source: ModelSource = HoldPoseSource()
        else:
            if not checkpoints_dir:
                raise SystemExit("positronic-policy-server: error: --checkpoints_dir is required for "
                                 "--backend=lerobot")
            source = _lerobot_source(checkpoints_dir, None if checkpoint is None else str(checkpoint), codec, device)
        config = ServerConfig(host=host, port=int(port), max_frame_bytes=int(max_frame_mb * 1024 * 1024),
                              batching=bool(batching), max_loaded_models=int(max_loaded_models), auth_token=token,
                              insecure=bool(insecure), openpi_port=None if openpi_port is None else int(openpi_port),
                              openpi_layout=str(openpi_layout))
        server = PolicyServer(source, config)
    except (TokenConfigError, MissingDependencyError, FileNotFoundError, LookupError, ValueError) as e:
        raise SystemExit(f"positronic-policy-server: error: {e}") from None
    try:
        asyncio.run(_serve(server, host))
    except BindError as e:
        flag = "--openpi_port" if openpi_port is not None and e.port == int(openpi_port) else "--port"
        hint = f"; {flag}=N picks another port" if e.errno == errno.EADDRINUSE else ""
        raise SystemExit(f"positronic-policy-server: error: {e}{hint}") from None
    except (KeyboardInterrupt, asyncio.CancelledError):  # SIGINT, SIGTERM
        pass
    finally:
        # The pool closes models on their own threads; a vendor server must be gone before we are.
        vendor_process.stop_all()


async def _serve(server: PolicyServer, host: str) -> None:
    # SIGTERM (docker stop, systemd) unwinds like Ctrl-C, so the server closes its models and stops vendor servers.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    await server.start()
    print(f"positronic-policy-server: models {server.source.list_models()} on "
          f"http://{host}:{server.port}/api/v1/models", flush=True)
    if server.openpi is not None:
        print(f"positronic-policy-server: openpi clients connect to ws://{host}:{server.openpi.port}", flush=True)
    await server.serve_forever()


def main() -> None:
    run(cfn.Config(serve), prog="positronic-policy-server")


if __name__ == "__main__":
    main()
