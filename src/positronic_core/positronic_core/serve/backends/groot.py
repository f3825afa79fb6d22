"""The GR00T backend: NVIDIA's own GR00T policy server as our child, reached over its ZeroMQ wire.

GR00T's stack (its venv, torch build, flash-attention) lives in its docker image, so nothing here imports it: each
loaded checkpoint is one `run_gr00t_server.py` started from `--vendor_command` on a free loopback port
(`serve.vendor_source`), and a model call is one `get_action` round trip (`groot_wire`) with the observation
encoded and the answer decoded by the variant's codec (`codecs.groot`). A checkpoint is ready only after a warm-up
inference has gone through the whole path, so the first robot does not pay for CUDA and kernel compilation.

Checkpoints are GR00T's (Hugging Face Trainer) layout, `DIR/checkpoint-<step>/`; the model id is `<step>`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from positronic_core.codecs.groot import GrootCodec, GrootVariant
from positronic_core.models.checkpoints import CheckpointLayout, CheckpointRegistry
from positronic_core.models.errors import ModelLoadError
from positronic_core.robot.commands import Action
from positronic_core.serve.backends.groot_wire import GrootClient
from positronic_core.serve.vendor_process import VendorProcess
from positronic_core.serve.vendor_source import VendorSource

log = logging.getLogger(__name__)

GROOT_LAYOUT = CheckpointLayout("checkpoint-<step>/ (GR00T's training output)", prefix="checkpoint-")
#: Where upstream Positronic's GR00T image keeps NVIDIA's checkout; its venv is /.venv.
DEFAULT_VENDOR_CWD = "/gr00t"
#: One get_action round trip (GR00T's own client waits 15 s). The warm-up call gets longer: it compiles kernels.
DEFAULT_REQUEST_TIMEOUT_S = 15.0
DEFAULT_WARMUP_TIMEOUT_S = 120.0


def default_vendor_command(variant: GrootVariant) -> str:
    """Upstream Positronic's GR00T server invocation (run in `DEFAULT_VENDOR_CWD` of its `positro/gr00t` image)."""
    return ("/.venv/bin/python gr00t/eval/run_gr00t_server.py --model_path {checkpoint_dir} "
            f"--embodiment_tag NEW_EMBODIMENT --modality_config_path {variant.modality_config} "
            "--host 127.0.0.1 --port {port}")


def probe(port: int) -> bool:
    """The GR00T server is up once it answers `ping` (it loads the model before binding its port)."""
    client = GrootClient(port, timeout_s=1.0)
    try:
        return client.ping(timeout_s=1.0)
    finally:
        client.close()


class GrootModel:
    """One checkpoint served by its own GR00T server process."""

    def __init__(self, process: VendorProcess, codec: GrootCodec, *, max_batch_size: int = 8,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
                 warmup_timeout_s: float = DEFAULT_WARMUP_TIMEOUT_S) -> None:
        self.process = process
        self.codec = codec
        self.max_batch_size = max_batch_size
        self.warmup_timeout_s = warmup_timeout_s
        self.client = GrootClient(process.port, timeout_s=request_timeout_s, liveness=self._why_gone)
        self.meta: dict[str, Any] = {"type": "groot", **codec.meta}
        self._reported_exit = False

    def infer_batch(self, observations: Sequence[Mapping[str, Any]], *, timeout_s: float | None = None
                    ) -> list[list[Action]]:
        encoded = self.codec.encode(observations)
        action, _info = self.client.get_action(encoded, timeout_s=timeout_s)
        return [self.codec.decode(action, index, observation) for index, observation in enumerate(observations)]

    async def infer_batch_async(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        """`infer_batch` on the server's event loop, which then needs no model thread (see `batching`)."""
        encoded = self.codec.encode(observations)
        action, _info = await self.client.get_action_async(encoded)
        return [self.codec.decode(action, index, observation) for index, observation in enumerate(observations)]

    def warm_up(self) -> None:
        """One inference through the whole path, then a `reset` so that it leaves no state behind."""
        try:
            self.infer_batch([self.codec.warmup_observation()], timeout_s=self.warmup_timeout_s)
            self.client.reset()
        except Exception as e:
            raise ModelLoadError(f"the GR00T server came up but its warm-up inference failed: {e}") from None

    @property
    def alive(self) -> bool:
        """False once the GR00T server has exited: the model pool then loads the checkpoint afresh."""
        return self.process.alive()

    async def close_async(self) -> None:
        """What lives on the event loop (`infer_batch_async`'s socket) closes there, before `close`."""
        self.client.close_async_socket()

    def close(self) -> None:
        self.client.close()
        self.process.stop()

    def _why_gone(self) -> str | None:
        code = self.process.returncode
        if code is None:
            return None
        if not self._reported_exit:  # its output's tail goes to our log once, not into every robot's error reply
            log.error("%s", self.process.exit_message())
            self._reported_exit = True
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the GR00T server {how}; the next session starts it again"


def groot_source(checkpoints_dir: Path | str, variant: GrootVariant, *, checkpoint: str | None = None,
                 command: str | None = None, cwd: Path | str | None = DEFAULT_VENDOR_CWD,
                 start_timeout_s: float = 600.0,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
                 warmup_timeout_s: float = DEFAULT_WARMUP_TIMEOUT_S, max_batch_size: int = 8) -> VendorSource:
    """Serves the GR00T checkpoints under `checkpoints_dir` (`checkpoint-<step>/` each) in `variant`'s layout, one
    GR00T server per loaded checkpoint, started by `command` (default: upstream's, for the variant)."""
    codec = GrootCodec(variant)

    def connect(process: VendorProcess, progress: Callable[[str], None]) -> GrootModel:
        return GrootModel(process, codec, max_batch_size=max_batch_size, request_timeout_s=request_timeout_s,
                          warmup_timeout_s=warmup_timeout_s)

    registry = CheckpointRegistry(checkpoints_dir, checkpoint, layout=GROOT_LAYOUT)
    return VendorSource(registry, command=command or default_vendor_command(variant), connect=connect,
                        probe=probe, cwd=cwd, start_timeout_s=start_timeout_s, name="GR00T server")
