"""What every node here shares: declaring described parameters, and the `main()` that spins it until Ctrl-C."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare a parameter with its description (shown by `ros2 param describe`) and return its value."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=description)).value


def spin(make_node: Callable[[], Node], args: list[str] | None = None,
         executor: Callable[[], Executor] | None = None) -> None:
    """rclpy.init, build the node, spin it, and on Ctrl-C or shutdown destroy it cleanly."""
    rclpy.init(args=args)
    node = make_node()
    runner = executor() if executor is not None else None
    try:
        if runner is None:
            rclpy.spin(node)
        else:
            runner.add_node(node)
            runner.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
