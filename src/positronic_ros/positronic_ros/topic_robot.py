"""The robot behind ROS topics, as the core's control loop sees it (`positronic_core.runtime.robot.Robot`).

Holds the latest `/joint_states`, `/ee_pose`, `/gripper/state`, camera images (and, for policies that ask, the
simulator's cube poses) and publishes what the loop applies. It only converts: the loop assembles observations,
schedules chunks and decides when to hold. Nothing measured before the current episode started reaches the
policy (`episode_start_ns`), so a pre-reset frame is never observed. `hold()` and `state_time()` make it a
`HoldableRobot` for the safety guard of a live arm.

With a `ChunkOutput` (the ros2_control path) the arm is driven by whole chunks instead: `apply_chunk` sends each as
one JointTrajectory to a joint_trajectory_controller (Cartesian targets through the IK), stamped with the time it
was asked for so its points keep their due times (a new one replaces the rest of the previous one), and each
tick's `apply` only commands the gripper's controller. A live arm's safety guard limits each chunk's trajectory
first (`chunk_limit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from positronic_core.robot.commands import Action
from positronic_core.robot.joint_chunk import IKSolver, JointChunk, chunk_to_joints
from positronic_core.stacking_task import PRIVILEGED_KEYS
from positronic_ros import conversions

PRIVILEGED_TOPICS = {key: conversions.privileged_topic(key) for key in PRIVILEGED_KEYS}


@dataclass(frozen=True)
class ChunkOutput:
    """Where whole chunks go: a joint_trajectory_controller's topic and a gripper position controller's."""

    trajectory_topic: str
    gripper_topic: str
    #: The gripper joint's position for a target grip of 1 (closed); 0 is open.
    gripper_closed: float
    solve_ik: IKSolver


class TopicRobot:
    def __init__(self, node: Node, cameras: Iterable[str], tick_s: float, privileged: bool,
                 joint_names: Sequence[str] = conversions.JOINT_NAMES, chunks: ChunkOutput | None = None) -> None:
        self.node = node
        self.cameras = list(cameras)
        self.tick_s = tick_s
        self.privileged = privileged
        self.joint_names = list(joint_names)
        self.chunks = chunks
        #: The safety guard's limit on whole chunks (None: chunks are sent as the policy gave them).
        self.chunk_limit: Callable[[JointChunk], JointChunk | None] | None = None
        self.episode_start_ns = 0
        self.latest: dict[str, tuple[int, Any]] = {}
        node.create_subscription(JointState, "/joint_states", lambda m: self._store("joints", m, m.header.stamp), 10)
        node.create_subscription(PoseStamped, "/ee_pose", lambda m: self._store("ee", m, m.header.stamp), 10)
        node.create_subscription(Float32, "/gripper/state", lambda m: self._store("grip", m), 10)
        for camera in self.cameras:
            node.create_subscription(Image, conversions.camera_topic(camera),
                                     lambda m, c=camera: self._store(c, m, m.header.stamp), qos_profile_sensor_data)
        if privileged:
            for key, topic in PRIVILEGED_TOPICS.items():
                node.create_subscription(PoseStamped, topic, lambda m, k=key: self._store(k, m, m.header.stamp), 10)
        self.pose_pub = node.create_publisher(PoseStamped, "/command/pose", 10)
        self.trajectory_pub = node.create_publisher(JointTrajectory, "/command/joint_trajectory", 10)
        self.grip_pub = node.create_publisher(Float32, "/gripper/command", 10)
        if chunks is not None:
            self.chunk_pub = node.create_publisher(JointTrajectory, chunks.trajectory_topic, 10)
            self.gripper_pub = node.create_publisher(Float64MultiArray, chunks.gripper_topic, 10)

    def _now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _store(self, key: str, msg: Any, stamp: Any = None) -> None:
        ns = conversions.stamp_to_ns(stamp) if stamp is not None else self._now_ns()
        self.latest[key] = (ns, msg)

    def _fresh(self, key: str) -> Any | None:
        """The latest message under `key` if it was measured in the current episode."""
        entry = self.latest.get(key)
        if entry is None or entry[0] < self.episode_start_ns:
            return None
        return entry[1]

    def robot_state(self) -> dict[str, Any] | None:
        joints, ee, grip = self._fresh("joints"), self._fresh("ee"), self._fresh("grip")
        if joints is None or ee is None or grip is None:
            return None
        q, dq = conversions.joint_state_arrays(joints, self.joint_names)
        return {"robot_state.q": q, "robot_state.dq": dq, "robot_state.ee_pose": conversions.msg_to_pose7(ee),
                "grip": np.float64(grip.data)}

    def render(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        frames = {}
        for camera in self.cameras if names is None else names:
            msg = self._fresh(camera)
            if msg is not None:
                frames[camera] = conversions.image_to_array(msg)
        return frames

    def observers(self) -> dict[str, float]:
        return {}

    def privileged_state(self) -> dict[str, np.ndarray] | None:
        poses = {key: self._fresh(key) for key in PRIVILEGED_TOPICS}
        if any(msg is None for msg in poses.values()):
            return None
        return {key: conversions.msg_to_pose7(msg) for key, msg in poses.items()}

    def _measured_q(self) -> np.ndarray | None:
        joints = self.latest.get("joints")
        return conversions.joint_state_arrays(joints[1], self.joint_names)[0] if joints is not None else None

    def state_time(self) -> float | None:
        joints = self.latest.get("joints")
        return None if joints is None else joints[0] / 1e9

    def hold(self) -> None:
        """A one-point trajectory to the measured joints, reached in a tick: it replaces whatever the controller is
        executing. Its zero stamp starts it on arrival, on the controller's own clock."""
        q = self._measured_q()
        if q is not None:
            msg = conversions.trajectory_msg(q, conversions.ns_to_stamp(0), self.tick_s, self.joint_names)
            (self.chunk_pub if self.chunks is not None else self.trajectory_pub).publish(msg)

    def apply_chunk(self, actions: list[Action], requested_at_s: float) -> None:
        """One trajectory for the whole chunk, timed from its request. An empty chunk (or one that is no trajectory)
        holds the arm (`hold`): the controller refuses an empty trajectory and would finish the previous one.

        What of the chunk is already past when it is sent is dropped (`JointChunk.ahead`) and the rest starts on
        arrival (a zero stamp), so a late chunk is never refused as ending in the past."""
        q = self._measured_q()
        if q is None:
            return  # no joint state yet: nothing was sent, so there is nothing to hold
        try:
            chunk = chunk_to_joints(actions, self.tick_s, q, self.chunks.solve_ik) if actions else None
        except ValueError as e:
            self.node.get_logger().error(f"holding: chunk is no trajectory: {e}")
            chunk = None
        if chunk is None:
            self.hold()
            return
        if self.chunk_limit is not None and (chunk := self.chunk_limit(chunk)) is None:
            return  # the arm is held: its hold stands
        chunk = chunk.ahead(max(0.0, self._now_ns() / 1e9 - requested_at_s), self.tick_s)
        msg = JointTrajectory(joint_names=self.joint_names)
        msg.header.stamp = conversions.ns_to_stamp(0)
        msg.points = [JointTrajectoryPoint(positions=[float(v) for v in positions],
                                           time_from_start=conversions.seconds_to_duration(t))
                      for t, positions in zip(chunk.times_s, chunk.positions, strict=True)]
        self.chunk_pub.publish(msg)

    def apply(self, action: Action) -> None:
        if self.chunks is not None:  # the arm runs the chunk's trajectory: only the grip is per tick
            grip = float(action.target_grip)
            self.gripper_pub.publish(Float64MultiArray(data=[grip * self.chunks.gripper_closed]))
            self.grip_pub.publish(Float32(data=grip))
            return
        stamp = conversions.ns_to_stamp(self._now_ns())
        q = self._measured_q()
        msg = conversions.command_to_msg(action.command, q, stamp, self.tick_s, self.joint_names)
        if isinstance(msg, PoseStamped):
            self.pose_pub.publish(msg)
        elif isinstance(msg, JointTrajectory):
            self.trajectory_pub.publish(msg)
        self.grip_pub.publish(Float32(data=float(action.target_grip)))
