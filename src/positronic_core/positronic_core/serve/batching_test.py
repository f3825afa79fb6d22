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
