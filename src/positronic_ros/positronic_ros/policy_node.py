"""`policy_node`: a Positronic policy (scripted expert, local ACT, or a remote protocol v1 server) on ROS topics.

Builds Positronic observations from `/joint_states`, `/ee_pose`, `/gripper/state` and the cameras (plus the cubes'
poses for the scripted expert), runs the policy through `RealtimePolicyRunner` (inference off the control tick,
next chunk requested before the current one runs out) and publishes one action per tick at `policy_fps`:
`/command/pose` for Cartesian actions, `/command/joint_trajectory` for joint actions, `/gripper/command` for the
grip. A session opens when `/episode/status` turns RUNNING and closes when it turns IDLE; if the server is lost
the arm holds from the next tick, and the next episode reconnects.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from cv_bridge import CvBridge
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32, String
from trajectory_msgs.msg import JointTrajectory

from positronic_core.policy.base import Policy
from positronic_core.runtime.realtime_runner import RealtimePolicyRunner
from positronic_interfaces.msg import EpisodeStatus, InferenceStats
from positronic_interfaces.srv import ListModels
from positronic_ros import conversions
from positronic_ros.node_main import declare, spin

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def make_policy(kind: str, params: dict[str, Any]) -> Policy:
    if kind == "scripted":
        from positronic_core.policy.scripted import ScriptedStackingPolicy

        return ScriptedStackingPolicy()
    if kind == "remote":
        from positronic_core.policy.remote import RemotePolicy

        return RemotePolicy(params["host"], int(params["port"]), model_id=params["model_id"] or None,
                            resize=int(params["resize"]) if params["resize"] > 0 else None,
                            token=params["token"] or None)
    if kind == "act":
        from positronic_core.policy.local_act import LocalActPolicy

        return LocalActPolicy(params["checkpoints_dir"], checkpoint=params["checkpoint"] or None,
                              codec=params["codec"], device=params["device"])
    raise ValueError(f"unknown policy {kind!r}: use scripted, remote or act")


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("policy_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        kind = param("policy", "scripted", "scripted (expert, needs the sim's cube poses), remote, or act (local)")
        settings = {
            "host": param("host", "localhost", "remote: policy server host"),
            "port": param("port", 8000, "remote: policy server port"),
            "model_id": param("model_id", "", "remote: checkpoint id; empty = the server's latest"),
            "resize": param("resize", 640, "remote: downscale images whose longest side exceeds this; 0 = never"),
            "token": param("token", "", "remote: bearer token (or set POSITRONIC_AUTH_TOKEN)"),
            "checkpoints_dir": param("checkpoints_dir", "", "act: LeRobot checkpoints directory"),
            "checkpoint": param("checkpoint", "", "act: checkpoint id; empty = the highest step"),
            "codec": param("codec", "ee", "act: ee or joints"),
            "device": param("device", "cpu", "act: torch device"),
        }
        self.policy_fps = float(param("policy_fps", 15.0, "Control rate: one action per tick"))
        self.cameras = list(param("cameras", ["image.wrist", "image.exterior"], "Cameras the policy observes"))
        self.policy = make_policy(kind, settings)
        self.kind = kind
        self.runner = RealtimePolicyRunner(self.policy, self.policy_fps)
        self.bridge = CvBridge()
        self.task = ""
        self.episode_index = -1
        self.episode_start_ns = 0
        self.latest: dict[str, tuple[int, Any]] = {}

        self.create_subscription(JointState, "/joint_states", self._on_joints, 10)
        self.create_subscription(PoseStamped, "/ee_pose", lambda m: self._store("ee", m, m.header.stamp), 10)
        self.create_subscription(Float32, "/gripper/state", lambda m: self._store("grip", m), 10)
        for camera in self.cameras:
            self.create_subscription(Image, conversions.camera_topic(camera),
                                     lambda m, c=camera: self._store(c, m, m.header.stamp), qos_profile_sensor_data)
        if self.policy.wants_privileged_state:
            for key in ("sim.box_red.pose", "sim.box_green.pose"):
                self.create_subscription(PoseStamped, f"/sim/{key.split('.')[1]}/pose",
                                         lambda m, k=key: self._store(k, m, m.header.stamp), 10)
        self.create_subscription(EpisodeStatus, "/episode/status", self._on_status, LATCHED)
        self.pose_pub = self.create_publisher(PoseStamped, "/command/pose", 10)
        self.trajectory_pub = self.create_publisher(JointTrajectory, "/command/joint_trajectory", 10)
        self.grip_pub = self.create_publisher(Float32, "/gripper/command", 10)
        self.stats_pub = self.create_publisher(InferenceStats, "/policy/stats", 10)
        self.meta_pub = self.create_publisher(String, "/policy/meta", LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(ListModels, "/policy/list_models", self._on_list_models)
        self.create_timer(1.0 / self.policy_fps, self._tick)
        self.create_timer(1.0, self._diagnostics)
        self._published_meta = False
        self.get_logger().info(f"policy {kind} at {self.policy_fps} Hz observing {self.cameras}")

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _store(self, key: str, msg: Any, stamp: Any = None) -> None:
        ns = conversions.stamp_to_ns(stamp) if stamp is not None else self._now_ns()
        self.latest[key] = (ns, msg)

    def _on_joints(self, msg: JointState) -> None:
        self._store("joints", msg, msg.header.stamp)

    def _on_status(self, msg: EpisodeStatus) -> None:
        if msg.state == EpisodeStatus.RUNNING and msg.episode_index != self.episode_index:
            self.episode_index = msg.episode_index
            self.task = msg.task
            # Nothing measured before this episode's reset may reach the policy.
            self.episode_start_ns = conversions.stamp_to_ns(msg.header.stamp)
            self.runner.start_episode({"task": msg.task})
            self._published_meta = False
        elif msg.state == EpisodeStatus.IDLE and self.runner.running:
            self.runner.stop_episode()

    def _observation(self) -> dict[str, Any] | None:
        needed = ["joints", "ee", "grip", *self.cameras]
        if self.policy.wants_privileged_state:
            needed += ["sim.box_red.pose", "sim.box_green.pose"]
        if any(k not in self.latest or self.latest[k][0] < self.episode_start_ns for k in needed):
            return None
        q, dq = conversions.joint_state_arrays(self.latest["joints"][1])
        obs: dict[str, Any] = {
            "robot_state.q": q,
            "robot_state.dq": dq,
            "robot_state.ee_pose": conversions.msg_to_pose7(self.latest["ee"][1]),
            "grip": np.float64(self.latest["grip"][1].data),
            "task": self.task,
        }
        for camera in self.cameras:
            obs[camera] = self.bridge.imgmsg_to_cv2(self.latest[camera][1], desired_encoding="rgb8")
        if self.policy.wants_privileged_state:
            for key in ("sim.box_red.pose", "sim.box_green.pose"):
                obs[key] = conversions.msg_to_pose7(self.latest[key][1])
        return obs

    def _tick(self) -> None:
        now_ns = self._now_ns()
        action = self.runner.tick(now_ns / 1e9, self._observation) if self.runner.running else None
        if action is not None:
            stamp = conversions.ns_to_stamp(now_ns)
            q = conversions.joint_state_arrays(self.latest["joints"][1])[0] if "joints" in self.latest else None
            msg = conversions.command_to_msg(action.command, q, stamp, 1.0 / self.policy_fps)
            if isinstance(msg, PoseStamped):
                self.pose_pub.publish(msg)
            elif isinstance(msg, JointTrajectory):
                self.trajectory_pub.publish(msg)
            self.grip_pub.publish(Float32(data=float(action.target_grip)))
        if self.runner.stats.session_open and not self._published_meta:
            self.meta_pub.publish(String(data=json.dumps(self.policy.meta, default=str)))
            self._published_meta = True
        self._publish_stats(now_ns)

    def _publish_stats(self, now_ns: int) -> None:
        stats = self.runner.stats
        msg = InferenceStats()
        msg.header.stamp = conversions.ns_to_stamp(now_ns)
        meta = self.policy.meta
        msg.policy_type = str(meta.get("type", self.kind))
        msg.model_id = str(meta.get("server.checkpoint_id", meta.get("checkpoint_id", meta.get("model_id", ""))))
        msg.session_open = stats.session_open
        msg.latency_ms = stats.last_latency_s * 1000.0
        msg.queue_depth = self.runner.scheduler.queue_depth
        msg.requests = stats.requests
        msg.idle_ticks = stats.idle_ticks
        msg.dropped_actions = self.runner.scheduler.dropped
        msg.errors = stats.errors
        msg.last_error = stats.last_error
        self.stats_pub.publish(msg)

    def _diagnostics(self) -> None:
        stats = self.runner.stats
        status = DiagnosticStatus(name="positronic: policy", hardware_id=self.kind)
        if stats.errors:
            status.level, status.message = DiagnosticStatus.ERROR, stats.last_error
        elif self.runner.running and not stats.session_open:
            status.level, status.message = DiagnosticStatus.WARN, "opening a policy session"
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
        status.values = [KeyValue(key="latency_ms", value=f"{stats.last_latency_s * 1000:.1f}"),
                         KeyValue(key="idle_ticks", value=str(stats.idle_ticks)),
                         KeyValue(key="requests", value=str(stats.requests))]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self.diag_pub.publish(array)

    def _on_list_models(self, request: ListModels.Request, response: ListModels.Response) -> ListModels.Response:
        client = getattr(self.policy, "client", None)
        try:
            if client is not None:
                response.models = client.list_models()
            else:
                checkpoint = self.policy.meta.get("checkpoint_id")
                response.models = [str(checkpoint)] if checkpoint else []
            response.success = True
        except Exception as e:
            response.success, response.message = False, str(e)
        return response

    def destroy_node(self) -> None:
        self.runner.close()
        self.policy.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    spin(PolicyNode, args)
