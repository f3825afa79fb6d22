"""Cross-session micro-batching with a dedicated model thread.

Each loaded model gets one worker thread, so model calls never run on the network event loop and a model is never
called from two threads at once. A model whose calls are network round trips to a vendor server offers them as
`infer_batch_async` instead, awaited on the event loop with no thread: the hop to a thread and back costs more than
the translation around the round trip. Requests queue in arrival order; when the worker frees up it takes every request
that arrived meanwhile (up to the model's batch limit) and runs them as one forward pass. Nothing waits for a batch
to fill: a lone robot sees batch-1 latency, and robots that arrive while the model is busy share the next pass.
Because every session has at most one request in flight (protocol v1 is lock-step), FIFO order is also fair: one
slow or chatty client cannot take more than one slot per batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from positronic_core.robot.commands import Action
from positronic_core.serve.model import Model

log = logging.getLogger(__name__)


class ModelClosedError(RuntimeError):
    """A request to a model that was unloaded before it answered."""


@dataclass
class _Request:
    observation: Mapping[str, Any]
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class BatchingExecutor:
    def __init__(self, model: Model, *, batching: bool = True) -> None:
        self.model = model
        self.max_batch = max(1, int(model.max_batch_size)) if batching else 1
        self._infer_async = getattr(model, "infer_batch_async", None)
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._worker: asyncio.Task | None = None
        self._in_flight: list[_Request] = []
        self._closed = False
        self._model_closed: concurrent.futures.Future | None = None

    async def infer(self, observation: Mapping[str, Any]) -> tuple[list[Action], dict[str, float]]:
        """The observation's chunk and timing facts (queue and model milliseconds, batch size)."""
        if self._closed:
            raise ModelClosedError("the model was unloaded")
        if not getattr(self.model, "blocking", True):
            # A model that answers in microseconds (no weights, no I/O) runs right here: the hop to its thread and
            # back costs about 0.2 ms, more than the model itself.
            started = time.perf_counter()
            outcome = (await self._infer_isolated([observation], self._on_loop))[0]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome, {"queue_ms": 0.0, "model_ms": (time.perf_counter() - started) * 1000.0, "batch_size": 1}
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())
        request = _Request(observation, asyncio.get_running_loop().create_future())
        await self._queue.put(request)
        return await request.future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [r for r in batch if not r.future.done()]  # clients that left while queued
            if not batch:
                continue
            started = time.perf_counter()
            self._in_flight = batch
            observations = [r.observation for r in batch]
            outcomes = await self._infer_isolated(observations, self._infer_async or self._on_thread)
            self._in_flight = []
            model_ms = (time.perf_counter() - started) * 1000.0
            for request, outcome in zip(batch, outcomes, strict=True):
                if request.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    request.future.set_exception(outcome)
                else:
                    timing = {"queue_ms": (started - request.enqueued) * 1000.0, "model_ms": model_ms,
                              "batch_size": len(batch)}
                    request.future.set_result((outcome, timing))

    async def _on_loop(self, observations: list[Mapping[str, Any]]) -> list[list[Action]]:
        return self.model.infer_batch(observations)

    async def _on_thread(self, observations: list[Mapping[str, Any]]) -> list[list[Action]]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.model.infer_batch, observations)

    @staticmethod
    async def _infer_isolated(observations: list[Mapping[str, Any]],
                              infer: Callable[[list[Mapping[str, Any]]], Awaitable[list[list[Action]]]],
                              ) -> list[list[Action] | Exception]:
        """Runs the batch through `infer` (the model on the loop, on its thread, or its `infer_batch_async`); if it
        fails, runs each observation alone so only the bad one gets the error."""
        try:
            return _checked(await infer(observations), observations)
        except Exception as batch_error:
            if len(observations) == 1:
                return [batch_error]
        outcomes: list[list[Action] | Exception] = []
        for observation in observations:
            try:
                outcomes.append((await infer([observation]))[0])
            except Exception as e:
                outcomes.append(e)
        return outcomes

    async def close(self) -> None:
        """Fail the queued and running requests and unload the model, without waiting for a forward pass.

        Returns at once. A forward pass still running finishes on the model thread, and the model closes there
        right after it, so the model is never closed under a running call nor called from two threads.
        """
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        unloaded = ModelClosedError("the model was unloaded")
        waiting = [*self._in_flight]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for request in waiting:
            if not request.future.done():
                request.future.set_exception(unloaded)
        self._in_flight = []
        close_async = getattr(self.model, "close_async", None)
        if close_async is not None:
            await close_async()
        self._model_closed = self._thread.submit(self.model.close)
        self._model_closed.add_done_callback(_log_close_failure)
        self._thread.shutdown(wait=False)

    async def wait_closed(self) -> None:
        """After `close`: returns once the model has closed (after any forward pass that was running)."""
        if self._model_closed is not None:
            await asyncio.wait({asyncio.wrap_future(self._model_closed)})


def _checked(chunks: list[list[Action]], observations: list[Mapping[str, Any]]) -> list[list[Action] | Exception]:
    if len(chunks) != len(observations):
        raise RuntimeError(f"model returned {len(chunks)} chunks for {len(observations)} observations")
    return list(chunks)


def _log_close_failure(done: concurrent.futures.Future) -> None:
    if done.exception() is not None:
        log.error("closing a model failed: %s", done.exception())
