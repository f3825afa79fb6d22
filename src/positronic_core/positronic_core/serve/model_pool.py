"""Loads models on demand, shares each between its sessions, and unloads idle ones beyond a budget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from positronic_core.serve.batching import BatchingExecutor
from positronic_core.serve.model import ModelSource
from positronic_core.wire.messages import PROGRESS_INTERVAL_S

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model_id: str
    executor: BatchingExecutor
    sessions: int = 0


class ModelPool:
    def __init__(self, source: ModelSource, *, batching: bool = True, max_loaded: int = 1) -> None:
        self.source = source
        self.batching = batching
        self.max_loaded = max(1, max_loaded)
        self._loaded: dict[str, LoadedModel] = {}
        self._loading: dict[str, asyncio.Task] = {}
        # Sessions waiting on a load, each with the loop and callback that receive the loader's progress messages.
        self._reporters: dict[str, list[tuple[asyncio.AbstractEventLoop, Callable[[str], None]]]] = {}

    async def acquire(self, model_id: str, progress: Callable[[str], Awaitable[None]]) -> LoadedModel:
        """The loaded model, loading it if needed while sending progress at least every PROGRESS_INTERVAL_S."""
        entry = self._loaded.get(model_id)
        if entry is None:
            task = self._loading.get(model_id)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._load(model_id))
                self._loading[model_id] = task
            latest = f"loading model {model_id}"
            loop = asyncio.get_running_loop()

            def report(message: str) -> None:
                nonlocal latest
                latest = message

            self._reporters.setdefault(model_id, []).append((loop, report))
            try:
                while True:
                    done, _ = await asyncio.wait({task}, timeout=PROGRESS_INTERVAL_S)
                    if done:
                        break
                    await progress(latest)
            finally:
                self._reporters[model_id].remove((loop, report))
            entry = task.result()
        entry.sessions += 1
        # Only now, with this session counted, may other idle models make room: the new one is never the victim.
        await self._evict_idle()
        return entry

    async def _load(self, model_id: str) -> LoadedModel:
        def on_progress(message: str) -> None:
            for loop, report in list(self._reporters.get(model_id, [])):
                loop.call_soon_threadsafe(report, message)

        try:
            model = await asyncio.to_thread(self.source.load, model_id, on_progress)
        finally:
            self._loading.pop(model_id, None)
        entry = LoadedModel(model_id, BatchingExecutor(model, batching=self.batching))
        self._loaded[model_id] = entry
        log.info("loaded model %s", model_id)
        return entry

    async def release(self, entry: LoadedModel) -> None:
        entry.sessions -= 1
        await self._evict_idle()

    async def _evict_idle(self) -> None:
        idle = [e for e in self._loaded.values() if e.sessions == 0]
        while len(self._loaded) > self.max_loaded and idle:
            victim = idle.pop(0)
            del self._loaded[victim.model_id]
            log.info("unloading idle model %s", victim.model_id)
            await victim.executor.close()

    async def close(self) -> None:
        for entry in list(self._loaded.values()):
            await entry.executor.close()
        self._loaded.clear()
