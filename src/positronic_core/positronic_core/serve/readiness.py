"""What `GET /api/v1/health` answers: should this server get new sessions now?

That is a load balancer's and a container orchestrator's question, distinct from `/api/v1/models` (what it serves):
- `loading` while the default model preloads (`--preload`): a session would wait for it, so a balancer should send
  sessions to a replica that has it in memory;
- `error` when a session on the default model cannot succeed: its preload failed, or the checkpoints directory
  lists no model (an empty or missing mount) or cannot be read;
- `ready` otherwise. Only `ready` is HTTP 200; the others are 503, which is what health checks act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from positronic_core.serve.model import ModelSource

LOADING = "loading"
READY = "ready"
ERROR = "error"


@dataclass(frozen=True)
class Health:
    status: str
    #: Why, for an operator's `curl`; withheld from requests without the server's token (paths, model ids).
    message: str = ""

    @property
    def http_status(self) -> HTTPStatus:
        return HTTPStatus.OK if self.status == READY else HTTPStatus.SERVICE_UNAVAILABLE

    def body(self, with_message: bool) -> dict[str, str]:
        return {"status": self.status, "message": self.message} if with_message and self.message else \
            {"status": self.status}


class Readiness:
    """The preload's progress (set by the server as it goes) and, once it is over, the model listing's state."""

    def __init__(self, source: ModelSource, preload: bool) -> None:
        self.source = source
        self._preload: Health | None = Health(LOADING, "loading the default model") if preload else None

    def loading(self, message: str) -> None:
        self._preload = Health(LOADING, message)

    def loaded(self) -> None:
        self._preload = None

    def failed(self, message: str) -> None:
        self._preload = Health(ERROR, message)

    def health(self) -> Health:
        if self._preload is not None:
            return self._preload
        try:
            models = self.source.list_models()
        except OSError as e:
            return Health(ERROR, f"cannot list models: {e}")
        if not models:
            return Health(ERROR, "no models to serve")
        return Health(READY)
