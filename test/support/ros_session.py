"""ROS 2 kept to one test session: a DDS domain of its own with discovery on loopback, a check that nothing started
in that domain outlives a test, and a probe that receives a few topics. The root conftest.py applies it (and puts the
session's ROS logs in its temp directory).

Sessions that run at the same time on one machine (parallel CI jobs, several clones) each hold a lock on their domain
id, so two sessions never share a domain, and none uses the domain of a live system (the default 0 is never taken).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any

#: The nodes' parameters as the launch files give them.
SIM_CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.yaml"
# Domain ids whose DDS ports stay below Linux's ephemeral port range (Fast DDS and Cyclone DDS alike).
DOMAINS = range(1, 102)

_held: IO[str] | None = None


def reserve_domain() -> int:
    """A domain id no other test session on this machine holds; kept until this process exits."""
    global _held
    for domain in random.sample(DOMAINS, len(DOMAINS)):
        lock = open(Path(tempfile.gettempdir()) / f"positronic-ros-domain-{domain}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _held = lock
        return domain
    raise RuntimeError(f"every ROS domain id in {DOMAINS} is held by another test session")


def isolate() -> int:
    """Point this process (and every process it starts) at a reserved domain on loopback; the domain id."""
    domain = reserve_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return domain


def missing_full_ros() -> list[str]:
    """What a full ROS 2 install has and this environment lacks (PyPI's ROS wheels have none of these)."""
    missing = [] if shutil.which("ros2") else ["ros2 (the command line)"]
    missing += [module for module in ("launch_ros", "rosbag2_py") if importlib.util.find_spec(module) is None]
    return missing


def processes_in_domain(domain: int) -> dict[int, str]:
    """{pid: command line} of the processes started with ROS_DOMAIN_ID=`domain`, this one excepted."""
    marker = f"ROS_DOMAIN_ID={domain}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return {pid: cmd for pid, cmd in found.items() if cmd}


def wait_domain_empty(domain: int, timeout: float, ignore: Collection[int] = ()) -> dict[int, str]:
    """Wait up to `timeout` s for every process of `domain` to exit, but those in `ignore` (already running when the
    caller started: a session-wide Xvfb inherits the domain too); those still running."""
    deadline = time.monotonic() + timeout
    while (left := _without(processes_in_domain(domain), ignore)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _without(found: dict[int, str], ignore: Collection[int]) -> dict[int, str]:
    return {pid: cmd for pid, cmd in found.items() if pid not in ignore}


def receive(topics: dict[str, tuple[Any, Any]], wanted: dict[str, int], timeout: float) -> dict[str, list]:
    """Messages per topic of `topics` ({name: (type, qos)}), listening until each topic has its `wanted` count or
    `timeout` s passed; from a node in a context of its own, so the caller's rclpy state is untouched."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    received: dict[str, list] = {topic: [] for topic in topics}
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("test_topic_probe", context=context)
        for topic, (msg_type, qos) in topics.items():
            node.create_subscription(msg_type, topic, received[topic].append, qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(received[t]) < n for t, n in wanted.items()):
            executor.spin_once(timeout_sec=0.2)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return received


def wait_for_message(topic: str, msg_type: Any, predicate: Any, timeout: float,
                     also: dict[str, Any] | None = None) -> tuple[Any | None, dict[str, list]]:
    """The first message on `topic` for which `predicate` holds (None if none came within `timeout` s), and what
    arrived meanwhile on the topics of `also` ({name: type}); from a node in a context of its own."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    found: list = []
    seen: dict[str, list] = {name: [] for name in also or {}}
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("test_topic_wait", context=context)
        node.create_subscription(msg_type, topic, lambda m: found.append(m) if predicate(m) else None, 10)
        for name, other_type in (also or {}).items():
            node.create_subscription(other_type, name, seen[name].append, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + timeout
        while not found and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.2)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return (found[0] if found else None), seen


def node_command(name: str, *params: str) -> list[str]:
    """A node of positronic_ros run from its entry point, as `ros2 run` would, with config/sim.yaml and `params`
    (`name:=value`) on top."""
    args = [arg for param in params for arg in ("-p", param)]
    return [sys.executable, "-c", f"from positronic_ros.{name} import main; main()", "--ros-args",
            "--params-file", str(SIM_CONFIG), *args]


def start_node(name: str, log: IO[str], *params: str) -> subprocess.Popen:
    return subprocess.Popen(node_command(name, *params), stdout=log, stderr=subprocess.STDOUT)


def stop_processes(procs: list[subprocess.Popen], timeout: float = 30) -> None:
    """Ctrl-C to each (the nodes shut down cleanly on it), then a kill for any that outlives `timeout`."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_launch(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Ctrl-C to a `ros2 launch` started in a session of its own, as a user's terminal sends it to the whole group;
    the group is killed if it outlives `timeout`."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
