"""The robot behind ROS topics, as the core's control loop sees it (`positronic_core.runtime.robot.Robot`).

Holds the latest `/joint_states`, `/ee_pose`, `/gripper/state`, camera images (and, for policies that ask, the
simulator's cube poses) and publishes what the loop applies. It only converts: the loop assembles observations,
schedules chunks and decides when to hold. Nothing measured before the current episode started reaches the
policy (`episode_start_ns`), so a pre-reset frame is never observed. `hold()` and `state_time()` make it a
`HoldableRobot` for the safety guard of a live arm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32
from trajectory_msgs.msg import JointTrajectory

from positronic_core.robot.commands import Action
from positronic_core.stacking_task import PRIVILEGED_KEYS
from positronic_ros import conversions

PRIVILEGED_TOPICS = {key: conversions.privileged_topic(key) for key in PRIVILEGED_KEYS}


class TopicRobot:
    def __init__(self, node: Node, cameras: Iterable[str], tick_s: float, privileged: bool,
                 joint_names: Iterable[str] = conversions.JOINT_NAMES) -> None:
        self.node = node
        self.joint_names = list(joint_names)
        self.cameras = list(cameras)
        self.tick_s = tick_s
        self.privileged = privileged
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
        """A one-point trajectory to the measured joints: it replaces whatever the controller is executing."""
        q = self._measured_q()
        if q is not None:
            stamp = conversions.ns_to_stamp(self._now_ns())
            self.trajectory_pub.publish(conversions.trajectory_msg(q, stamp, self.tick_s, self.joint_names))

    def apply(self, action: Action) -> None:
        stamp = conversions.ns_to_stamp(self._now_ns())
        q = self._measured_q()
        msg = conversions.command_to_msg(action.command, q, stamp, self.tick_s, self.joint_names)
        if isinstance(msg, PoseStamped):
            self.pose_pub.publish(msg)
        elif isinstance(msg, JointTrajectory):
            self.trajectory_pub.publish(msg)
        self.grip_pub.publish(Float32(data=float(action.target_grip)))
