"""TopicRobot on the ros2_control path, over real rclpy topics on a simulated clock: a chunk becomes one
JointTrajectory of the waypoints still ahead when it is sent, timed from then and started on arrival (Cartesian
targets through the arm's IK); a chunk wholly in the past its last waypoint in a tick; a dropped plan a one-point hold
at the measured joints; and each tick's grip a gripper controller command."""

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs ROS 2: rclpy is not importable (run it with make test-ros)")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from positronic_core.robot.commands import Action, CartesianPosition  # noqa: E402
from positronic_core.sim.franka import HOME_Q  # noqa: E402
from positronic_core.sim.ik import panda_ik  # noqa: E402
from positronic_ros import conversions  # noqa: E402
from positronic_ros.topic_robot import ChunkOutput, TopicRobot  # noqa: E402

JOINTS = [f"fr3_joint{i}" for i in range(1, 8)]
TICK = 1 / 15


def test_chunks_become_timed_trajectories_a_dropped_plan_a_hold_and_grips_gripper_commands():
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("topic_robot_test", context=context,
                                 parameter_overrides=[Parameter("use_sim_time", value=True)])
        ik = panda_ik()
        robot = TopicRobot(node, [], TICK, False, JOINTS, ChunkOutput(
            "/arm_controller/joint_trajectory", "/gripper_controller/commands", 0.8,
            lambda p, r, seed: ik.solve(p, r, seed).q))
        trajectories, grips = [], []
        node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory", trajectories.append, 10)
        node.create_subscription(Float64MultiArray, "/gripper_controller/commands", grips.append, 10)
        states = node.create_publisher(JointState, "/joint_states", 10)
        clock = node.create_publisher(Clock, "/clock", 10)

        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)

        def spin_until(condition, each=lambda: None):
            deadline = time.monotonic() + 10
            while not condition() and time.monotonic() < deadline:
                each()
                executor.spin_once(timeout_sec=0.05)
            assert condition()

        def set_clock(ns):
            spin_until(lambda: node.get_clock().now().nanoseconds == ns,
                       each=lambda: clock.publish(Clock(clock=conversions.ns_to_stamp(ns))))

        measured = JointState(name=JOINTS, position=[float(q) for q in HOME_Q], velocity=[0.0] * 7)
        spin_until(lambda: "joints" in robot.latest, each=lambda: states.publish(measured))
        set_clock(12_550_000_000)  # 50 ms after the chunk below was asked for: its first waypoint is past

        home, rotation = ik.site_pose(HOME_Q)
        targets = [home + [0.0, 0.0, -0.02 * i] for i in range(3)]
        chunk = [Action(CartesianPosition(np.r_[p, rotation.reshape(-1)]), 1.0, timestamp=0.1 * i)
                 for i, p in enumerate(targets)]
        robot.apply_chunk(chunk, requested_at_s=12.5)
        robot.apply(chunk[0])
        spin_until(lambda: trajectories and grips)
        sent = trajectories[0]
        assert sent.joint_names == JOINTS and conversions.stamp_to_ns(sent.header.stamp) == 0
        np.testing.assert_allclose([conversions.stamp_to_ns(p.time_from_start) / 1e9 for p in sent.points],
                                   [0.05, 0.15], atol=1e-6)
        for point, target in zip(sent.points, targets[1:], strict=True):
            np.testing.assert_allclose(ik.site_pose(np.array(point.positions))[0], target, atol=1e-3)
        assert list(grips[0].data) == [0.8]

        set_clock(14_000_000_000)
        robot.apply_chunk(chunk, requested_at_s=12.5)
        spin_until(lambda: len(trajectories) == 2)
        late = trajectories[1]
        assert len(late.points) == 1 and conversions.stamp_to_ns(late.points[0].time_from_start) == round(TICK * 1e9)
        np.testing.assert_allclose(ik.site_pose(np.array(late.points[0].positions))[0], targets[-1], atol=1e-3)

        robot.apply_chunk([], requested_at_s=13.0)
        spin_until(lambda: len(trajectories) == 3)
        hold = trajectories[2]
        assert conversions.stamp_to_ns(hold.header.stamp) == 0 and len(hold.points) == 1
        np.testing.assert_allclose(hold.points[0].positions, HOME_Q)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
