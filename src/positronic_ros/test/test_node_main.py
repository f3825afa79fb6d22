"""node_main.spin's Ctrl-C, in a node process of its own: the first SIGINT lets the callback running at that moment
finish and ends the process with status 0 and nothing on stderr; a second one interrupts a callback that does not
finish. Needs rclpy only, so it runs on PyPI's ROS 2 wheels as on a full install."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

# A node whose timer callback, when `when` says so, busies itself for `busy_s` seconds of Python (where Python's
# default SIGINT handler would raise KeyboardInterrupt) and then reports that it finished.
NODE = textwrap.dedent("""
    import sys, time
    from rclpy.node import Node
    from positronic_ros.node_main import spin

    busy_s = float(sys.argv[1])

    class Busy(Node):
        def __init__(self):
            super().__init__("busy")
            self.create_timer(0.01, self.tick)

        def tick(self):
            print("callback started", flush=True)
            end = time.monotonic() + busy_s
            while time.monotonic() < end:
                sum(range(100))
            print("callback finished", flush=True)

    spin(Busy)
""")


def start(busy_s: float) -> subprocess.Popen:
    # The child has Python's default SIGINT handler: the root conftest undoes a SIGINT ignore inherited from a shell.
    proc = subprocess.Popen([sys.executable, "-c", NODE, str(busy_s)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "callback started\n", proc.stderr.read() if proc.poll() is not None else ""
    return proc


def test_a_ctrl_c_lets_the_running_callback_finish_and_exits_cleanly():
    proc = start(busy_s=1.0)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == "callback finished\n" and err == ""


def test_a_second_ctrl_c_interrupts_a_callback_that_does_not_finish():
    proc = start(busy_s=600.0)
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None, "the first Ctrl-C must not interrupt the callback"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == "" and err == ""
