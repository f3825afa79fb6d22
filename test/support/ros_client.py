"""A test's own rclpy node, in a context of its own: service calls and spinning until something holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class RosClient:
    """What a user's rclpy script does; subclasses add the topics their test publishes or listens to."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._clients: dict[str, Any] = {}

    def call(self, name: str, kind: Any, timeout: float = 60, **fields: Any) -> Any:
        """`kind`'s service `name` called with `fields`; its response, failing the test after `timeout` s."""
        client = self._clients.get(name) or self._clients.setdefault(name, self.node.create_client(kind, name))
        deadline = time.monotonic() + timeout
        while not client.service_is_ready():
            assert time.monotonic() < deadline, f"{name} is not available"
            self.executor.spin_once(timeout_sec=0.05)
        future = client.call_async(kind.Request(**fields))
        self.executor.spin_until_future_complete(future, timeout_sec=max(deadline - time.monotonic(), 1.0))
        assert future.done(), f"{name} did not answer in {timeout} s"
        return future.result()

    def call_until_ready(self, name: str, kind: Any, waiting_for: tuple[str, ...], timeout: float = 120,
                         **fields: Any) -> Any:
        """`call`, again each second while the service answers that it is still waiting for another part (its
        message holds one of `waiting_for`), as a user's script starting an episode after a launch does."""
        deadline = time.monotonic() + timeout
        while True:
            response = RosClient.call(self, name, kind, timeout, **fields)  # subclasses narrow `call`'s signature
            if response.success or not any(part in response.message for part in waiting_for):
                return response
            assert time.monotonic() < deadline, f"{name}: {response.message}"
            self.spin_for(1.0)

    def spin_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)
