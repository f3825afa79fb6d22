"""`policy_node`: a Positronic policy (scripted expert, local ACT, or a remote inference server) on ROS topics.

Runs the policy on the core's one control loop, on the node's clock (ROS time, so `use_sim_time` works) with
inference on a worker thread; `TopicRobot` is the loop's robot: it holds `/joint_states`, `/ee_pose`,
`/gripper/state` and the cameras (plus the cubes' poses for the scripted expert) and publishes one action per tick:
`/command/pose` for Cartesian actions, `/command/joint_trajectory` for joint actions, `/gripper/command` for the
grip; or, with `command_mode:=trajectory` (the ros2_control path), one JointTrajectory per chunk to a
joint_trajectory_controller and the grip to a gripper position controller. A session opens when
`/episode/status` turns RUNNING and closes when it turns IDLE; if the server is lost the arm holds from the next
tick, and the next episode reconnects.

With `safety_config` set (a live arm: real.launch.py sets `config/fr3_safety.yaml`) every command passes the core's
safety guard first: limited to the config's joint and workspace limits, and replaced by an active hold in the tick
a lost server, stale joint states or a dry plan is noticed. `/policy/hold` and `/policy/resume` (std_srvs/Trigger)
freeze and release the arm for the operator; holds and limited commands go on `/policy/timeline`, so the episode's
recording shows them (`safety.hold`, `safety.limited`); whole chunks are limited point by point.
"""

from __future__ import annotations

import json
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String
from std_srvs.srv import Trigger

from positronic_core import allocator
from positronic_core.cfg.policy import build_policy
from positronic_core.robot.safety import SafetyConfigError, load_limits
from positronic_core.runtime.control_loop import ControlLoop
from positronic_core.runtime.inference_executor import ThreadExecutor
from positronic_core.runtime.run_statics import policy_statics
from positronic_core.runtime.safety_guard import SafetyGuard
from positronic_core.sim.ik import panda_ik
from positronic_interfaces.msg import EpisodeStatus, InferenceStats
from positronic_interfaces.srv import ListModels
from positronic_ros import conversions
from positronic_ros.node_main import ParameterError, declare, spin
from positronic_ros.timeline_publisher import TimelinePublisher
from positronic_ros.topic_robot import ChunkOutput, TopicRobot

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def policy_fields(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """ROS parameters -> the command line's `--policy.<field>` values (ROS parameters cannot be None: an empty
    string or 0 stands for "not set")."""
    if kind == "remote":
        session_params = json.loads(params["session_params"]) if params["session_params"] else None
        if session_params is not None and not isinstance(session_params, dict):
            raise ValueError(f"session_params must be a JSON object, got {params['session_params']!r}")
        return {"host": params["host"], "port": int(params["port"]), "model_id": params["model_id"] or None,
                "resize": int(params["resize"]) if params["resize"] > 0 else None, "session_params": session_params}
    if kind == "act":
        return {"base.checkpoints_dir": params["checkpoints_dir"], "base.checkpoint": params["checkpoint"] or None,
                "base.device": params["device"], "codec": params["codec"]}
    return {}


class RosClock:
    """The node's clock (ROS time, which follows /clock under use_sim_time) in seconds, for the control loop."""

    def __init__(self, node: Node) -> None:
        self._clock = node.get_clock()

    def now(self) -> float:
        return self._clock.now().nanoseconds / 1e9


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("policy_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        kind = param("policy", "scripted", "scripted (expert, needs the sim's cube poses), remote, or act (local)")
        settings = {
            "host": param("host", "localhost", "remote: policy server host"),
            "port": param("port", 8000, "remote: policy server port"),
            "model_id": param("model_id", "", "remote: checkpoint id; empty = the server's latest (or its only "
                              "model: upstream 0.4.x servers serve one)"),
            "resize": param("resize", 640, "remote: downscale images whose longest side exceeds this; 0 = never"),
            "session_params": param("session_params", "", "remote: session parameters an upstream 0.4.x server "
                                    "declares, as a JSON object; empty = none"),
            "checkpoints_dir": param("checkpoints_dir", "", "act: LeRobot checkpoints directory"),
            "checkpoint": param("checkpoint", "", "act: checkpoint id; empty = the highest step"),
            "codec": param("codec", "ee", "act: ee or joints"),
            "device": param("device", "cpu", "act: torch device"),
        }
        self.policy_fps = float(param("policy_fps", 15.0, "Control rate: one action per tick"))
        self.cameras = list(param("cameras", ["image.wrist", "image.exterior"], "Cameras the policy observes"))
        mode = str(param("command_mode", "topics", "topics (/command/pose or /command/joint_trajectory per tick) "
                         "or trajectory (one JointTrajectory per chunk to a joint_trajectory_controller)"))
        joint_names = list(param("joint_names", list(conversions.JOINT_NAMES),
                                 "The arm's 7 joints in /joint_states and in the trajectories sent"))
        trajectory_topic = str(param("trajectory_topic", "/arm_controller/joint_trajectory",
                                     "trajectory: the joint_trajectory_controller's topic"))
        gripper_topic = str(param("gripper_topic", "/gripper_controller/commands",
                                  "trajectory: the gripper position controller's topic (Float64MultiArray)"))
        gripper_closed = float(param("gripper_closed_position", 0.8,
                                     "trajectory: the gripper joint's position at a target grip of 1 (closed)"))
        if mode not in ("topics", "trajectory"):
            raise ParameterError(f"parameter command_mode must be topics or trajectory, got {mode!r}")
        if len(joint_names) != 7:
            raise ParameterError(f"parameter joint_names must name the arm's 7 joints, got {joint_names}")
        safety_config = str(param("safety_config", "", "Safety limits file (config/fr3_safety.yaml on a live arm); "
                                  "empty = commands are not limited (the simulator)"))
        if kind not in ("scripted", "remote", "act"):
            raise ParameterError(f"parameter policy must be scripted, remote or act, got {kind!r}")
        if not self.policy_fps > 0:
            raise ParameterError(f"parameter policy_fps must be positive, got {self.policy_fps}")
        # The bearer token comes from POSITRONIC_AUTH_TOKEN only: anyone on the DDS domain can read parameters.
        try:
            self.policy = build_policy(kind, policy_fields(kind, settings))
        except (ValueError, LookupError, OSError, ImportError) as e:
            raise ParameterError(f"cannot build the {kind} policy from its parameters: {e}") from None
        self.kind = kind
        chunks = None
        if mode == "trajectory":
            # Cartesian actions are the simulated Panda's pinch-point poses: its IK turns them into joints.
            ik = panda_ik()
            chunks = ChunkOutput(trajectory_topic, gripper_topic, gripper_closed,
                                 lambda position, rotation, seed: ik.solve(position, rotation, seed).q)
        self.robot = TopicRobot(self, self.cameras, 1.0 / self.policy_fps, self.policy.wants_privileged_state,
                                joint_names, chunks)
        clock = RosClock(self)
        self.guard: SafetyGuard | None = None
        if safety_config:
            try:
                limits = load_limits(safety_config)
            except SafetyConfigError as e:
                raise ParameterError(f"parameter safety_config: {e}") from None
            if list(limits.joint_names) != joint_names:
                raise ParameterError(f"parameter safety_config limits {list(limits.joint_names)}, but joint_names "
                                     f"is {joint_names}")
            self.guard = SafetyGuard(self.robot, limits, clock, 1.0 / self.policy_fps, chunked=chunks is not None)
            self.robot.chunk_limit = self.guard.limit_chunk
        # A live robot's tick must never wait for a model: inference runs on a worker, a failure holds the arm
        # until the next episode, and two ticks of plan are kept in hand against latency jitter.
        # The robot's own topics are bagged by the recorder; the loop adds its inference timeline.
        self.timeline = TimelinePublisher(self)
        self.loop = ControlLoop(self.guard or self.robot, self.policy, clock=clock, executor=ThreadExecutor(clock),
                                policy_fps=self.policy_fps, cameras=self.cameras, slack_ticks=2, on_error="hold",
                                record_robot=False, on_chunk=self.robot.apply_chunk if chunks else None)
        self.episode_index = -1

        self.create_subscription(EpisodeStatus, "/episode/status", self._on_status, LATCHED)
        self.stats_pub = self.create_publisher(InferenceStats, "/policy/stats", 10)
        self.meta_pub = self.create_publisher(String, "/policy/meta", LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(ListModels, "/policy/list_models", self._on_list_models)
        if self.guard is not None:
            self.create_service(Trigger, "/policy/hold", self._on_hold)
            self.create_service(Trigger, "/policy/resume", self._on_resume)
        self.create_timer(1.0 / self.policy_fps, self._tick)
        self.create_timer(1.0, self._diagnostics)
        self._published_meta = False
        guarded = f", commands limited by {safety_config}" if self.guard is not None else ""
        self.get_logger().info(f"policy {kind} at {self.policy_fps} Hz observing {self.cameras}{guarded}")

    def _on_status(self, msg: EpisodeStatus) -> None:
        if msg.state == EpisodeStatus.RUNNING and msg.episode_index != self.episode_index:
            self.episode_index = msg.episode_index
            self.robot.episode_start_ns = conversions.stamp_to_ns(msg.header.stamp)
            if self.guard is not None:
                self.guard.start_episode(self.timeline)
            self.loop.start_episode(msg.task, sink=self.timeline)
            self._published_meta = False
        elif msg.state == EpisodeStatus.IDLE and self.loop.running:
            self.loop.stop_episode()
            if self.guard is not None:
                self.guard.stop_episode()

    def _tick(self) -> None:
        if self.loop.running:
            errors = self.loop.stats.errors
            self.loop.tick()
            if self.guard is not None:
                self.guard.check(self.loop.stats.session_open, failed=self.loop.stats.errors > errors)
        stats = self.loop.stats
        if stats.session_open and not self._published_meta:
            statics = policy_statics(self.policy.meta, self.policy_fps)
            self.meta_pub.publish(String(data=json.dumps(statics, default=str)))
            self._published_meta = True
        self._publish_stats(self.get_clock().now().nanoseconds)

    def _publish_stats(self, now_ns: int) -> None:
        stats = self.loop.stats
        msg = InferenceStats()
        msg.header.stamp = conversions.ns_to_stamp(now_ns)
        meta = self.policy.meta
        msg.policy_type = str(meta.get("type", self.kind))
        msg.model_id = str(meta.get("server.checkpoint_id", meta.get("checkpoint_id", meta.get("model_id", ""))))
        msg.session_open = stats.session_open
        msg.latency_ms = stats.last_latency_s * 1000.0
        msg.queue_depth = self.loop.scheduler.queue_depth
        msg.requests = stats.requests
        msg.idle_ticks = stats.idle_ticks
        msg.dropped_actions = self.loop.scheduler.dropped
        msg.errors = stats.errors
        msg.last_error = stats.last_error
        self.stats_pub.publish(msg)

    def _diagnostics(self) -> None:
        stats = self.loop.stats
        status = DiagnosticStatus(name="positronic: policy", hardware_id=self.kind)
        if stats.errors:
            status.level, status.message = DiagnosticStatus.ERROR, stats.last_error
        elif self.loop.running and not stats.session_open:
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

    def _on_hold(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.guard.hold("operator", "requested on /policy/hold")
        self.get_logger().warning("operator hold: the arm is frozen until /policy/resume")
        response.success, response.message = True, "holding the arm"
        return response

    def _on_resume(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if "operator" not in self.guard.holds:
            response.success, response.message = False, "no operator hold to release"
            return response
        self.guard.release("operator")
        self.get_logger().warning("operator hold released")
        others = ", ".join(self.guard.holds)
        response.success = True
        response.message = f"released; still holding for {others}" if others else "released"
        return response

    def _on_list_models(self, request: ListModels.Request, response: ListModels.Response) -> ListModels.Response:
        client = getattr(self.policy, "client", None)
        try:
            if client is not None:
                response.models = client.served_models()
            else:
                checkpoint = self.policy.meta.get("checkpoint_id")
                response.models = [str(checkpoint)] if checkpoint else []
            response.success = True
        except Exception as e:
            response.success, response.message = False, str(e)
        return response

    def destroy_node(self) -> None:
        self.loop.close()
        self.policy.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    allocator.keep_large_buffers()  # camera frames go to the policy server every tick
    spin(PolicyNode, args)
