"""The command path of the plain and the ros2_control simulation, side by side in one run.

    make bench                                   # runs this with ROS (and the ros2_control overlay) set up
    python bench/command_path.py [--seconds 30]   # with ROS, the overlay and install/ sourced

Per path it runs `ros2 launch positronic_bringup sim.launch.py [ros2_control:=true]` with the scripted expert in a
DDS domain of its own, starts an episode and listens for `--seconds` of wall time:
- capture -> controller: from the capture of the camera frame a chunk was planned from (the newest frame stamped
  at or before the chunk's request) to that chunk reaching what executes it: on the plain path the first
  `/command/pose` of the chunk reaching the simulator, on the ros2_control path its JointTrajectory reaching the
  arm controller's topic. Wall milliseconds (simulated stamps mapped through `/clock`), p50 and p99.
- command jitter: the spread of the 15 Hz per-tick command stream's intervals in simulated time, what the
  executing side sees (plain: `/command/pose`; ros2_control: `/gripper_controller/commands`; the arm there gets
  whole chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from bisect import bisect_right
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TICK_S = 1 / 15
#: Jitter below this is the stamps' rounding: the plain path's simulator ticks exactly on its simulated-time grid.
JITTER_RESOLUTION_MS = 0.05


class Probe:
    def __init__(self, node, ros2_control: bool) -> None:
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import qos_profile_sensor_data
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float64MultiArray, String
        from trajectory_msgs.msg import JointTrajectory

        self.node = node
        self.clock: list[tuple[int, int]] = []  # (simulated ns, wall ns)
        self.frames: list[int] = []
        self.latencies_ms: list[float] = []
        self.ticks_ns: list[int] = []
        self.requested: list[int] = []
        self.arrivals: list[int] = []  # wall ns of each chunk trajectory's arrival (ros2_control)
        node.create_subscription(Clock, "/clock", self._on_clock, 10)
        node.create_subscription(Image, "/camera/wrist/image_raw", self._on_frame, qos_profile_sensor_data)
        node.create_subscription(String, "/policy/timeline", self._on_timeline, 50)
        if ros2_control:
            node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", self._on_trajectory, 10)
            node.create_subscription(Float64MultiArray, "/gripper_controller/commands", self._on_tick, 10)
        else:
            node.create_subscription(PoseStamped, "/command/pose", self._on_pose, 10)

    def _sim_now(self) -> int:
        return self.clock[-1][0] if self.clock else 0

    def _on_clock(self, msg) -> None:
        self.clock.append((msg.clock.sec * 10**9 + msg.clock.nanosec, time.monotonic_ns()))

    def _on_frame(self, msg) -> None:
        self.frames.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)

    def _wall_at(self, sim_ns: int) -> int | None:
        sims = [s for s, _ in self.clock]
        i = bisect_right(sims, sim_ns)
        return self.clock[i - 1][1] if i else None

    def _chunk_arrived(self, requested_ns: int, arrived_wall_ns: int) -> None:
        i = bisect_right(self.frames, requested_ns)
        captured = self._wall_at(self.frames[i - 1]) if i else None
        if captured is not None:
            self.latencies_ms.append((arrived_wall_ns - captured) / 1e6)

    def _on_trajectory(self, msg) -> None:
        # A chunk's trajectory starts on arrival (a zero stamp) and is sent before the timeline announces its
        # request: each is matched afterwards (`match_trajectories`).
        if msg.points:
            self.arrivals.append(time.monotonic_ns())

    def match_trajectories(self) -> None:
        """Each request announced on the timeline, paired with the first trajectory that arrived after it."""
        for requested_ns in self.requested:
            asked = self._wall_at(requested_ns)
            i = bisect_right(self.arrivals, asked) if asked is not None else len(self.arrivals)
            if i < len(self.arrivals):
                self._chunk_arrived(requested_ns, self.arrivals[i])

    def _on_timeline(self, msg) -> None:
        sample = json.loads(msg.data)
        if sample.get("signal") == "inference.chunk_size":
            self.requested.append(int(sample["ts_ns"]))

    def _on_pose(self, msg) -> None:
        self._on_tick(msg)
        if self.requested:
            self._chunk_arrived(self.requested.pop(), time.monotonic_ns())
            self.requested.clear()

    def _on_tick(self, msg) -> None:
        self.ticks_ns.append(self._sim_now())


def measure(ros2_control: bool, seconds: float) -> dict[str, float]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(1, 101)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "PYTHONUNBUFFERED": "1"}
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    log = open(os.devnull, "w")
    launch = subprocess.Popen(["ros2", "launch", "positronic_bringup", "sim.launch.py", "record:=false",
                               f"ros2_control:={'true' if ros2_control else 'false'}"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        deadline = time.monotonic() + 180
        while "success=True" not in subprocess.run(
                ["ros2", "service", "call", "/episode/start", "positronic_interfaces/srv/StartEpisode",
                 "{task: 'stack'}"], env=env, capture_output=True, text=True, timeout=120).stdout:
            if time.monotonic() > deadline:
                raise SystemExit("command_path: the episode did not start within 180 s")
            time.sleep(2)
        node = rclpy.create_node("command_path_probe", context=context)
        probe = Probe(node, ros2_control)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        node.destroy_node()
        if ros2_control:
            probe.match_trajectories()
    finally:
        rclpy.shutdown(context=context)
        os.killpg(launch.pid, signal.SIGINT)
        try:
            launch.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGKILL)
    intervals_ms = np.diff(probe.ticks_ns) / 1e6
    latencies = np.array(probe.latencies_ms)
    (sim0, wall0), (sim1, wall1) = probe.clock[0], probe.clock[-1]
    return {"sim_per_wall": (sim1 - sim0) / max(wall1 - wall0, 1), "chunks": len(latencies),
            "latency_p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
            "latency_p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
            "ticks": len(intervals_ms), "interval_mean_ms": float(intervals_ms.mean()),
            "jitter_std_ms": float(intervals_ms.std()),
            "jitter_p99_ms": float(np.percentile(np.abs(intervals_ms - TICK_S * 1000), 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="wall seconds of episode listened to per path")
    args = parser.parse_args()
    rows = {"plain": measure(False, args.seconds), "ros2_control": measure(True, args.seconds)}
    # sim/wall: simulated seconds per wall second; below 1 the simulator (rendering, physics) lags real time, and
    # wall latencies stretch with it.
    print(f"{'path':14}{'sim/wall':>9}{'chunks':>7}{'p50 ms':>9}{'p99 ms':>9}{'ticks':>7}{'mean dt':>9}"
          f"{'jitter sd':>11}{'|dt-66.7| p99':>15}")
    for path, r in rows.items():
        print(f"{path:14}{r['sim_per_wall']:>9.2f}{r['chunks']:>7}{r['latency_p50_ms']:>9.1f}"
              f"{r['latency_p99_ms']:>9.1f}{r['ticks']:>7}{r['interval_mean_ms']:>9.1f}{r['jitter_std_ms']:>11.1f}"
              f"{r['jitter_p99_ms']:>15.1f}")
    plain, control = rows["plain"], rows["ros2_control"]
    if plain["jitter_std_ms"] >= JITTER_RESOLUTION_MS:
        jitter = f"x{control['jitter_std_ms'] / plain['jitter_std_ms']:.2f}"
    else:  # a ratio to (next to) nothing would print as millions
        jitter = (f"{control['jitter_std_ms']:.1f} ms against none (the plain path's ticks fall on the simulated-time "
                  f"grid)")
    print(f"ros2_control / plain: latency p50 x{control['latency_p50_ms'] / plain['latency_p50_ms']:.2f}, "
          f"jitter sd {jitter}")


if __name__ == "__main__":
    sys.exit(main())
