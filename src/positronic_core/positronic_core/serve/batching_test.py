"""BatchingExecutor without sockets: who shares a forward pass, and closing while a pass runs.

A gated model stands in for a slow one: each forward pass waits until the test opens its gate, so the tests state
the order of events instead of measuring durations.
"""

import asyncio
import threading

import pytest

from positronic_core.robot.commands import Action, Reset
from positronic_core.serve.batching import BatchingExecutor, ModelClosedError

# A bound for waits that succeed at once unless the code is broken: it turns a hang into a failure.
STUCK_S = 10.0


class GatedModel:
    """Records each batch it is given; a pass blocks until `gate` is set (the test's stand-in for compute)."""

    meta: dict = {}

    def __init__(self, max_batch_size: int = 8) -> None:
        self.max_batch_size = max_batch_size
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[int]] = []
        self.events: list[tuple[str, str]] = []  # (what, thread name), in order
        self.closed = threading.Event()

    def infer_batch(self, observations):
        self.events.append(("forward", threading.current_thread().name))
        self.batches.append([o["i"] for o in observations])
        self.entered.set()
        assert self.gate.wait(STUCK_S), "the test never opened the gate"
        self.events.append(("forward done", threading.current_thread().name))
        return [[Action(Reset(), 0.0)] for _ in observations]

    def close(self):
        self.events.append(("close", threading.current_thread().name))
        self.closed.set()


async def _entered(model: GatedModel) -> None:
    assert await asyncio.to_thread(model.entered.wait, STUCK_S), "the model was never called"
    model.entered.clear()


def test_requests_that_arrive_during_a_pass_share_the_next_one():
    async def scenario():
        model = GatedModel(max_batch_size=3)
        executor = BatchingExecutor(model)
        first = asyncio.create_task(executor.infer({"i": 0}))
        await _entered(model)
        rest = [asyncio.create_task(executor.infer({"i": i})) for i in range(1, 5)]
        await asyncio.sleep(0)  # every request is queued now
        model.gate.set()
        replies = await asyncio.wait_for(asyncio.gather(first, *rest), STUCK_S)
        await executor.close()
        return model.batches, [timing["batch_size"] for _, timing in replies]

    batches, sizes = asyncio.run(scenario())
    assert batches == [[0], [1, 2, 3], [4]]  # arrival order, at most max_batch_size per pass
    assert sizes == [1, 3, 3, 3, 1]


def test_batching_off_runs_one_observation_per_pass():
    async def scenario():
        model = GatedModel()
        model.gate.set()
        executor = BatchingExecutor(model, batching=False)
        await asyncio.wait_for(asyncio.gather(*(executor.infer({"i": i}) for i in range(3))), STUCK_S)
        await executor.close()
        return model.batches

    assert asyncio.run(scenario()) == [[0], [1], [2]]


def test_close_returns_while_a_pass_runs_and_the_model_closes_after_it():
    async def scenario():
        model = GatedModel()
        executor = BatchingExecutor(model)
        running = asyncio.create_task(executor.infer({"i": 0}))
        await _entered(model)
        queued = asyncio.create_task(executor.infer({"i": 1}))
        await asyncio.sleep(0)

        await executor.close()
        # The forward pass is still blocked on its gate, so close did not wait for it.
        assert not model.gate.is_set() and not model.closed.is_set()
        for request in (running, queued):
            with pytest.raises(ModelClosedError, match="unloaded"):
                await asyncio.wait_for(request, STUCK_S)
        with pytest.raises(ModelClosedError):
            await executor.infer({"i": 2})
        # The loop keeps serving other work meanwhile.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "served"), STUCK_S) == "served"

        model.gate.set()
        assert await asyncio.to_thread(model.closed.wait, STUCK_S), "the model was never closed"
        return model

    model = asyncio.run(scenario())
    assert model.batches == [[0]]
    assert [what for what, _ in model.events] == ["forward", "forward done", "close"]
    assert len({thread for _, thread in model.events}) == 1  # closed on the model's own thread


class AsyncGatedModel:
    """A vendor-style model: `infer_batch_async` awaits its gate on the event loop; `infer_batch` must not be used."""

    meta: dict = {}

    def __init__(self, max_batch_size: int = 8, fail_batches: bool = False) -> None:
        self.max_batch_size = max_batch_size
        self.fail_batches = fail_batches
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.batches: list[list[int]] = []
        self.events: list[str] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()

    def infer_batch(self, observations):
        raise AssertionError("a model with infer_batch_async is never called on a thread")

    async def infer_batch_async(self, observations):
        self.threads.add(threading.current_thread().name)
        self.batches.append([o["i"] for o in observations])
        self.entered.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.events.append("cancelled")
            raise
        if any(o.get("bad") for o in observations) and (self.fail_batches or len(observations) == 1):
            raise ValueError("a bad observation")
        return [[Action(Reset(), float(o["i"]))] for o in observations]

    async def close_async(self):
        self.events.append("close_async")

    def close(self):
        self.events.append("close")
        self.closed.set()


def test_an_async_model_is_awaited_on_the_loop_batched_and_isolated():
    async def scenario():
        model = AsyncGatedModel(fail_batches=True)
        executor = BatchingExecutor(model)
        first = asyncio.create_task(executor.infer({"i": 0}))
        await asyncio.wait_for(model.entered.wait(), STUCK_S)
        later = [asyncio.create_task(executor.infer({"i": i, "bad": i == 2})) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        model.gate.set()
        chunk, timing = await asyncio.wait_for(first, STUCK_S)
        assert chunk[0].target_grip == 0.0 and timing["batch_size"] == 1
        outcomes = await asyncio.wait_for(asyncio.gather(*later, return_exceptions=True), STUCK_S)
        await executor.close()
        return model, outcomes

    model, outcomes = asyncio.run(scenario())
    # The three that came during the first pass shared one; it failed, so each ran alone and only the bad one failed.
    assert model.batches == [[0], [1, 2, 3], [1], [2], [3]]
    assert [o[0][0].target_grip for o in (outcomes[0], outcomes[2])] == [1.0, 3.0]
    assert isinstance(outcomes[1], ValueError)
    assert model.threads == {threading.main_thread().name}


def test_closing_cancels_an_async_pass_and_closes_the_loop_side_first():
    async def scenario():
        model = AsyncGatedModel()
        executor = BatchingExecutor(model)
        running = asyncio.create_task(executor.infer({"i": 0}))
        await asyncio.wait_for(model.entered.wait(), STUCK_S)
        await executor.close()
        with pytest.raises(ModelClosedError, match="unloaded"):
            await asyncio.wait_for(running, STUCK_S)
        await asyncio.wait_for(executor.wait_closed(), STUCK_S)
        return model

    model = asyncio.run(scenario())
    assert model.events == ["cancelled", "close_async", "close"]
