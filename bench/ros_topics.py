"""Topic rates of `sim_node` over real DDS, beside the rates it is configured for, measured in the same run.

    make bench                                      # runs this with ROS set up, among the other benchmarks
    python bench/ros_topics.py [--seconds 10] [--params config/sim.yaml]   # with ROS and install/ sourced

Starts `sim_node` on `--params` (the launch file's config by default) in a DDS domain of its own on loopback,
subscribes to its state, camera and clock topics, and after a warm-up counts messages for `--seconds` of wall time.
Per topic it prints the configured rate (in simulated time), the rate measured in simulated time (from header stamps:
it shows frames dropped on the way) and in wall time (what `ros2 topic hz` shows: it also moves with the simulator's
real-time factor, since software rendering can hold the simulator below real time). The tests only assert that
messages arrive; this is where the rates are watched.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_S = 3.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wall seconds to count messages for")
    parser.add_argument("--params", type=Path, default=ROOT / "config" / "sim.yaml",
                        help="ROS parameters file giving sim_node its rates (state_rate, camera_fps, cameras)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    sim = yaml.safe_load(args.params.read_text())["sim_node"]["ros__parameters"]
    # A domain of its own, never the default one of a live system, and discovery on loopback only.
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(1, 101))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    from positronic_ros import conversions

    configured = {"/joint_states": sim["state_rate"]}
    configured.update({conversions.camera_topic(c): sim["camera_fps"] for c in sim["cameras"]})
    node_proc = subprocess.Popen(
        [sys.executable, "-c", "from positronic_ros.sim_node import main; main()",
         "--ros-args", "--params-file", str(args.params)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rclpy.init()
    try:
        node = rclpy.create_node("bench_ros_topics")
        counting = False
        stamps: dict[str, list[int]] = {topic: [] for topic in configured}
        clock: list[int] = []

        def on_message(topic: str, msg) -> None:
            if counting:
                stamps[topic].append(conversions.stamp_to_ns(msg.header.stamp))

        def on_clock(msg: Clock) -> None:
            if counting:
                clock.append(conversions.stamp_to_ns(msg.clock))

        for topic in configured:
            msg_type, qos = (Image, qos_profile_sensor_data) if topic.startswith("/camera/") else (JointState, 10)
            node.create_subscription(msg_type, topic, lambda msg, t=topic: on_message(t, msg), qos)
        node.create_subscription(Clock, "/clock", on_clock, 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)

        def spin_for(seconds: float) -> float:
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                if node_proc.poll() is not None:
                    raise SystemExit(f"sim_node exited with status {node_proc.returncode}:\n{node_proc.stderr.read()}")
                executor.spin_once(timeout_sec=0.1)
            return time.monotonic() - start

        spin_for(WARM_UP_S)
        counting = True
        wall_s = spin_for(args.seconds)
        counting = False
    finally:
        node_proc.terminate()
        node_proc.wait(timeout=30)
        rclpy.try_shutdown()

    sim_s = (clock[-1] - clock[0]) / 1e9 if len(clock) > 1 else 0.0
    print(f"sim_node for {wall_s:.1f} wall s: {sim_s:.1f} simulated s, real-time factor {sim_s / wall_s:.2f} "
          f"(target {sim.get('real_time_factor', 1.0)})")
    print(f"{'topic':<32} {'configured Hz':>14} {'measured Hz (sim time)':>23} {'measured Hz (wall)':>19}")
    for topic, rate in configured.items():
        seen = stamps[topic]
        span_s = (seen[-1] - seen[0]) / 1e9 if len(seen) > 1 else 0.0
        sim_hz = (len(seen) - 1) / span_s if span_s else 0.0
        print(f"{topic:<32} {rate:>14.1f} {sim_hz:>23.1f} {len(seen) / wall_s:>19.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
