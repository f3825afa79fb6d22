"""What every node here shares: declaring described parameters, and the `main()` that spins it until Ctrl-C."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node


class ParameterError(ValueError):
    """A parameter value the node cannot start with; the message names the parameter."""


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare a parameter with its description (shown by `ros2 param describe`) and return its value."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=description)).value


class _InterruptOnSecondSigint:
    """SIGINT's Python handler while a node runs. rclpy's own handler (installed by `rclpy.init`, run before this
    one) shuts the context down, which ends the spin between callbacks. Python's default handler would also raise
    KeyboardInterrupt wherever the main thread is: inside a callback, or inside rclpy's native code converting a
    message, which pybind11 reports as "RuntimeError: Unable to convert call argument" with a traceback and exit
    status 1. So the first Ctrl-C only lets rclpy shut down; a second one interrupts, for a node stuck in a
    callback."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.received:
            raise KeyboardInterrupt
        self.received = True


def spin(make_node: Callable[[], Node], args: list[str] | None = None,
         executor: Callable[[], Executor] | None = None) -> None:
    """rclpy.init, build the node, spin it, and on Ctrl-C or shutdown destroy it cleanly. A bad parameter stops
    the node at start: one line naming it on stderr, exit status 2."""
    signal.signal(signal.SIGINT, _InterruptOnSecondSigint())
    rclpy.init(args=args)
    node = None
    try:
        # Built inside the try: a Ctrl-C while the node is still starting (its context shut down under it) ends
        # the process as quietly as later.
        try:
            node = make_node()
        except ParameterError as e:
            print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        if executor is None:
            rclpy.spin(node)
        else:
            runner = executor()
            runner.add_node(node)
            runner.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except rclpy_implementation.RCLError:
        # Ctrl-C shuts the context down under whatever the executor was doing (waiting, or a callback publishing);
        # that is the shutdown asked for, not a failure to report with a traceback and exit status 1.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
