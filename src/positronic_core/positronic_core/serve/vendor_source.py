"""A model source whose checkpoints run in a vendor's own policy server, one child process per loaded checkpoint.

What differs between vendors (the readiness probe, the client of the vendor's wire, the codec translation) comes
in as a `VendorConnector`; what they share lives here: the checkpoint registry, starting the vendor on a free port
with the command template, the warm-up inference before any session sees the model, and stopping the vendor when
anything on the way fails. The source is `exclusive`: the model pool keeps one checkpoint's vendor at a time and
switches only once its sessions have ended.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from positronic_core.models.checkpoints import CheckpointRegistry
from positronic_core.serve.model import Model
from positronic_core.serve.vendor_process import ReadinessProbe, VendorProcess, check_template


class VendorModel(Model, Protocol):
    """A loaded checkpoint served by a vendor process that it owns: `close()` stops that process."""

    #: False once the vendor process has gone; the pool then loads the checkpoint afresh for the next session.
    @property
    def alive(self) -> bool: ...

    def warm_up(self) -> None:
        """One inference on a neutral observation (compiles kernels, fills caches) before any session."""
        ...


#: Wraps a started, answering vendor process in a model (connecting to it), reporting progress.
VendorConnector = Callable[[VendorProcess, Callable[[str], None]], VendorModel]


class VendorSource:
    #: One vendor (one GPU's worth of weights) at a time: see `ModelPool`.
    exclusive = True

    def __init__(self, registry: CheckpointRegistry, *, command: str, connect: VendorConnector,
                 probe: ReadinessProbe, cwd: Path | str | None = None, start_timeout_s: float = 600.0,
                 name: str = "vendor server", env: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        self.command = command
        self.connect = connect
        self.probe = probe
        self.cwd = None if cwd is None else Path(cwd)
        self.start_timeout_s = start_timeout_s
        self.name = name
        self.env = env
        self._check_launchable()

    def _check_launchable(self) -> None:
        # Checked at start-up, not when the first robot connects, so the operator sees it.
        program = check_template(self.command)[0]
        if self.cwd is not None and not self.cwd.is_dir():
            raise FileNotFoundError(f"the {self.name}'s working directory {self.cwd} does not exist")
        if "/" in program:
            path = Path(program) if Path(program).is_absolute() or self.cwd is None else self.cwd / program
            found = path.is_file()
        else:
            found = shutil.which(program) is not None
        if not found:
            raise FileNotFoundError(f"the {self.name}'s program {program!r} is not found (in {self.command!r})")

    def list_models(self) -> list[str]:
        return self.registry.list_models()

    def resolve(self, model_id: str | None) -> str:
        return self.registry.resolve(model_id)

    def load(self, model_id: str, progress: Callable[[str], None]) -> VendorModel:
        path = self.registry.path(model_id)
        progress(f"starting the {self.name} for checkpoint {model_id} ({path})")
        process = VendorProcess.start(self.command, checkpoint_dir=path, probe=self.probe, progress=progress,
                                      cwd=self.cwd, timeout_s=self.start_timeout_s, env=self.env, name=self.name)
        try:
            model = self.connect(process, progress)
        except BaseException:
            process.stop()
            raise
        try:
            progress(f"warming up checkpoint {model_id} with one inference")
            model.warm_up()
        except BaseException:
            model.close()
            raise
        model.meta.setdefault("checkpoint_path", str(path))
        return model
