"""Loads models on demand, shares each between its sessions, and unloads idle ones beyond a budget.

A source may declare itself `exclusive` (the vendor backends: each checkpoint is a vendor server holding a GPU's
worth of weights). Then at most one of its models is loaded or loading at a time, and a session asking for another
one waits, with `waiting` frames, until every session on the current model has ended; only then is the current one
closed (its vendor stopped) and the asked-for one loaded. A running episode never loses its model.

A model may also say it can no longer answer (`alive` false: its vendor process died). It is then dropped, its
sessions get error replies, and the next session that asks for it loads it afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from positronic_core.serve.batching import BatchingExecutor
from positronic_core.serve.model import ModelSource
from positronic_core.wire.messages import PROGRESS_INTERVAL_S

log = logging.getLogger(__name__)

Progress = Callable[[str], Awaitable[None]]
#: How long closing the pool waits for models to close (a vendor gets SIGKILL 10 s after SIGTERM).
CLOSE_WAIT_S = 15.0


@dataclass
class LoadedModel:
    model_id: str
    executor: BatchingExecutor
    sessions: int = 0

    @property
    def alive(self) -> bool:
        return bool(getattr(self.executor.model, "alive", True))


class ModelPool:
    def __init__(self, source: ModelSource, *, batching: bool = True, max_loaded: int = 1) -> None:
        self.source = source
        self.batching = batching
        self.exclusive = bool(getattr(source, "exclusive", False))
        self.max_loaded = 1 if self.exclusive else max(1, max_loaded)
        self._loaded: dict[str, LoadedModel] = {}
        self._loading: dict[str, asyncio.Task] = {}
        # Sessions waiting for a load to finish, per model: they are about to use it, so it is not idle.
        self._waiters: dict[str, int] = {}
        # Sessions waiting on a load, each with the loop and callback that receive the loader's progress messages.
        self._reporters: dict[str, list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]]] = {}
        # Set (and replaced) whenever a session ends or a load finishes: what sessions waiting for a switch watch.
        self._changed = asyncio.Event()

    async def acquire(self, model_id: str, progress: Progress, waiting: Progress | None = None) -> LoadedModel:
        """The loaded model, loading it if needed while sending `progress` at least every PROGRESS_INTERVAL_S.

        For an exclusive source, `waiting` (default: `progress`) is sent as often while the session waits for the
        sessions on another model to end."""
        await self._drop_dead()
        entry = self._loaded.get(model_id)
        if entry is None and self.exclusive:
            await self._wait_for_switch(model_id, waiting or progress)
            entry = self._loaded.get(model_id)
        if entry is None:
            entry = await self._await_load(model_id, progress)
        entry.sessions += 1
        # Only now, with this session counted, may other idle models make room: the new one is never the victim.
        await self._evict_idle()
        return entry

    async def _wait_for_switch(self, model_id: str, waiting: Progress) -> None:
        """Returns once `model_id` is loaded or loading, or nothing else is; then starts its load if needed."""
        loop = asyncio.get_running_loop()
        last_sent: float | None = None
        while True:
            await self._drop_dead()
            if model_id in self._loaded or model_id in self._loading:
                return
            busy = [e for e in self._loaded.values() if not self._idle(e)]
            if not busy and not self._loading:
                break
            # Taken with the state just read, before anything awaits: a change from here on is not missed.
            changed = self._changed
            if last_sent is None or loop.time() - last_sent >= PROGRESS_INTERVAL_S:
                await waiting(self._waiting_message(model_id, busy))
                last_sent = loop.time()
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(0.0, last_sent + PROGRESS_INTERVAL_S - loop.time()))
            except asyncio.TimeoutError:  # noqa: UP041 (not builtin TimeoutError before 3.11)
                pass
        # Nothing runs on the other models: close them (stopping their vendors) inside the load task, registered
        # right now, before any await, so that a session arriving meanwhile waits for this switch.
        victims = list(self._loaded.values())
        for victim in victims:
            del self._loaded[victim.model_id]
        self._start_load(model_id, victims)

    def _waiting_message(self, model_id: str, busy: list[LoadedModel]) -> str:
        if busy:
            sessions = sum(e.sessions + self._waiters.get(e.model_id, 0) for e in busy)
            return (f"waiting for {sessions} session(s) on model {busy[0].model_id} to end before switching to "
                    f"model {model_id}")
        return f"waiting for model {next(iter(self._loading))} to finish loading before switching to {model_id}"

    def _start_load(self, model_id: str, victims: list[LoadedModel] = ()) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._load(model_id, victims))
        self._loading[model_id] = task
        return task

    async def _await_load(self, model_id: str, progress: Progress) -> LoadedModel:
        task = self._loading.get(model_id) or self._start_load(model_id)
        latest = f"loading model {model_id}"
        loop = asyncio.get_running_loop()

        def report(message: str) -> None:
            nonlocal latest
            latest = message

        self._reporters.setdefault(model_id, []).append((loop, report))
        self._waiters[model_id] = self._waiters.get(model_id, 0) + 1
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=PROGRESS_INTERVAL_S)
                if done:
                    break
                await progress(latest)
        finally:
            self._reporters[model_id].remove((loop, report))
            self._waiters[model_id] -= 1
        return task.result()

    async def _load(self, model_id: str, victims: list[LoadedModel]) -> LoadedModel:
        def on_progress(message: str) -> None:
            for loop, report in list(self._reporters.get(model_id, [])):
                loop.call_soon_threadsafe(report, message)

        try:
            for victim in victims:
                log.info("unloading model %s to switch to %s", victim.model_id, model_id)
                on_progress(f"unloading model {victim.model_id}")
                await victim.executor.close()
                await victim.executor.wait_closed()
            model = await asyncio.to_thread(self.source.load, model_id, on_progress)
        finally:
            self._loading.pop(model_id, None)
            self._notify()
        entry = LoadedModel(model_id, BatchingExecutor(model, batching=self.batching))
        self._loaded[model_id] = entry
        log.info("loaded model %s", model_id)
        return entry

    async def release(self, entry: LoadedModel) -> None:
        entry.sessions -= 1
        self._notify()
        await self._evict_idle()

    async def _drop_dead(self) -> None:
        for entry in [e for e in self._loaded.values() if not e.alive]:
            log.warning("model %s can no longer answer; it will be loaded afresh", entry.model_id)
            del self._loaded[entry.model_id]
            await entry.executor.close()
            # What is left of it (a port, GPU memory) is released before its replacement loads.
            await asyncio.wait({asyncio.ensure_future(entry.executor.wait_closed())}, timeout=CLOSE_WAIT_S)

    def _idle(self, entry: LoadedModel) -> bool:
        return entry.sessions == 0 and not self._waiters.get(entry.model_id)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _evict_idle(self) -> None:
        idle = [e for e in self._loaded.values() if self._idle(e)]
        while len(self._loaded) > self.max_loaded and idle:
            victim = idle.pop(0)
            del self._loaded[victim.model_id]
            log.info("unloading idle model %s", victim.model_id)
            await victim.executor.close()

    async def close(self) -> None:
        """Unload every model, waiting (bounded) for them to close: a vendor's server stops before this returns."""
        entries = list(self._loaded.values())
        self._loaded.clear()
        for entry in entries:
            await entry.executor.close()
        if entries:
            closing = [asyncio.ensure_future(entry.executor.wait_closed()) for entry in entries]
            _, late = await asyncio.wait(closing, timeout=CLOSE_WAIT_S)
            if late:
                log.warning("%d model(s) still running a forward pass; not waiting for them to close", len(late))
