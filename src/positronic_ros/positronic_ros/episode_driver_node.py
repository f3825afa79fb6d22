"""`episode_driver_node`: starts and stops episodes, in timed mode (duration x iterations) or by service call.

Services: `/episode/start` (StartEpisode), `/episode/stop` (StopEpisode), `/episode/reset` (ResetEpisode: stop
without saving and reset the scene), `/episode/score` (ScoreEpisode: appends to the dataset's score log) and
publishes `/episode/status` (EpisodeStatus, transient local) on every change and at 2 Hz. The scene is reset
through the sim's `/sim/reset` before an episode starts, so no observation of the previous scene reaches the
policy. Time is the ROS clock (simulated time with `use_sim_time`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from visualization_msgs.msg import Marker

from positronic_core.runtime.episode_lifecycle import Episode, EpisodeLifecycle, LifecycleError, TimedPlan
from positronic_core.stacking_task import TASK
from positronic_core.wording import plural
from positronic_interfaces.msg import EpisodeStatus
from positronic_interfaces.srv import ResetEpisode, ScoreEpisode, StartEpisode, StopEpisode
from positronic_ros import conversions
from positronic_ros.node_main import ParameterError, declare, spin

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class EpisodeDriverNode(Node):
    def __init__(self) -> None:
        super().__init__("episode_driver_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        self.mode = str(param("mode", "manual", "timed: run `iterations` episodes of `duration` s on their own; "
                                                "manual: episodes start and stop by service call"))
        self.duration = float(param("duration", 15.0, "Timed mode: seconds per episode (ROS clock)"))
        iterations = int(param("iterations", 1, "Timed mode: number of episodes"))
        task = str(param("task", TASK, "Default instruction when /episode/start gives none"))
        first_seed = int(param("seed", 0, "Seed of the first scene; each episode uses the next one"))
        self.reset_service = str(param("reset_service", "/sim/reset", "Scene reset service; empty on a real robot"))
        self.dataset_dir = str(param("dataset_dir", "", "Dataset the recorder converts episodes into (for scoring)"))
        self.start_delay = float(param("start_delay", 2.0, "Timed mode: seconds to wait for the other nodes"))
        self.exit_when_done = bool(param("exit_when_done", False, "Timed mode: exit once the last episode ended "
                                                                  "(a launch file then shuts the others down)"))
        waited = str(param("wait_for_nodes", "", "Comma-separated nodes that must subscribe to /episode/status "
                                                 "before an episode starts (the launches: policy_node, which "
                                                 "subscribes once its policy is built); empty = none"))
        self.wait_for_nodes = [name.strip() for name in waited.split(",") if name.strip()]

        if self.mode not in ("timed", "manual"):
            raise ParameterError(f"parameter mode must be timed or manual, got {self.mode!r}")
        try:
            timed = TimedPlan(self.duration, iterations) if self.mode == "timed" else None
            self.lifecycle = EpisodeLifecycle(first_seed=first_seed, task=task, timed=timed)
        except ValueError as e:
            raise ParameterError(f"bad parameter (duration, iterations or seed): {e}") from None
        self.lock = threading.RLock()
        self.status = EpisodeStatus(state=EpisodeStatus.IDLE, episode_index=-1, seed=-1)
        services = ReentrantCallbackGroup()
        self.reset_client = self.create_client(ResetEpisode, self.reset_service, callback_group=services) \
            if self.reset_service else None
        self.status_pub = self.create_publisher(EpisodeStatus, "/episode/status", LATCHED)
        self.marker_pub = self.create_publisher(Marker, "/episode/marker", 10)
        self.create_service(StartEpisode, "/episode/start", self._on_start, callback_group=services)
        self.create_service(StopEpisode, "/episode/stop", self._on_stop, callback_group=services)
        self.create_service(ResetEpisode, "/episode/reset", self._on_reset, callback_group=services)
        self.create_service(ScoreEpisode, "/episode/score", self._on_score, callback_group=services)
        self.create_timer(0.5, self._publish, callback_group=MutuallyExclusiveCallbackGroup())
        self.timed_group = MutuallyExclusiveCallbackGroup()
        if timed is not None:
            self.create_timer(0.05, self._timed_tick, callback_group=self.timed_group)
        self._publish()

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _now(self) -> float:
        return self._now_ns() / 1e9

    def _publish(self) -> None:
        with self.lock:
            if self.status.state == EpisodeStatus.RUNNING:
                self.status.elapsed = self.lifecycle.elapsed(self._now())
            self.status_pub.publish(self.status)
            self.marker_pub.publish(self._marker())

    def _marker(self) -> Marker:
        """The status as text above the table, for rviz."""
        status = self.status
        marker = Marker(ns="positronic", id=0, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        marker.header.frame_id = conversions.WORLD_FRAME
        marker.header.stamp = self.get_clock().now().to_msg()
        marker.pose.position.x, marker.pose.position.z = 0.5, 0.7
        marker.pose.orientation.w = 1.0
        marker.scale.z = 0.05
        marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
        state = "RUNNING" if status.state == EpisodeStatus.RUNNING else "IDLE"
        marker.text = f"episode {status.episode_index} {state} {status.elapsed:.1f}s  {status.task}"
        return marker

    def _reset_scene(self, seed: int) -> tuple[bool, str]:
        if self.reset_client is None:
            return True, "no scene reset on this robot"
        if not self.reset_client.wait_for_service(timeout_sec=10.0):
            return False, f"{self.reset_service} is not available"
        done = threading.Event()
        future = self.reset_client.call_async(ResetEpisode.Request(seed=seed))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout=30.0):
            return False, f"{self.reset_service} did not answer"
        result = future.result()
        return bool(result.success), result.message

    def missing_nodes(self) -> list[str]:
        """The `wait_for_nodes` not yet subscribed to /episode/status: an episode they missed the start of would
        run without them (a policy node still loading its model leaves the arm still)."""
        subscribed = {info.node_name for info in self.get_subscriptions_info_by_topic("/episode/status")}
        return [name for name in self.wait_for_nodes if name not in subscribed]

    def start(self, task: str, metadata: str, seed: int) -> tuple[bool, str]:
        missing = self.missing_nodes()
        if missing:
            return False, (f"{', '.join(missing)} not up yet (not subscribed to /episode/status): start again in a "
                           f"moment")
        with self.lock:
            try:
                episode = self.lifecycle.start(self._now(), task, metadata, seed)
            except LifecycleError as e:
                return False, str(e)
        ok, message = self._reset_scene(episode.seed)
        with self.lock:
            if not ok:
                self.lifecycle.abandon()
                return False, message
            # The episode's time starts after the scene reset, so nothing observed before it reaches the policy.
            started_ns = self._now_ns()
            episode.started_at = started_ns / 1e9
            self.status = EpisodeStatus(
                state=EpisodeStatus.RUNNING, episode_index=episode.index, seed=episode.seed, task=episode.task,
                duration=self.duration if self.mode == "timed" else 0.0, metadata=json.dumps(self._statics(episode)))
            self.status.header.stamp = conversions.ns_to_stamp(started_ns)
        self._publish()
        self.get_logger().info(f"episode {episode.index} started (seed {episode.seed}): {episode.task}")
        return True, f"episode {episode.index} started"

    def _statics(self, episode: Episode) -> dict[str, Any]:
        """The start's metadata, plus what the in-process timed driver records about its plan."""
        statics = dict(episode.metadata)
        if self.lifecycle.timed is not None:
            statics.setdefault("simulation.total_iterations", self.lifecycle.timed.iterations)
        return statics

    def stop(self, save: bool, outcome: str = "", notes: str = "") -> tuple[bool, str]:
        with self.lock:
            try:
                ended = self.lifecycle.stop(self._now(), save, outcome, notes)
            except LifecycleError as e:
                return False, str(e)
            self.status.elapsed = ended.elapsed_s
            self.status.state = EpisodeStatus.IDLE
            self.status.saved, self.status.outcome, self.status.notes = ended.saved, outcome, notes
            self.status.header.stamp = conversions.ns_to_stamp(self._now_ns())
            index = ended.episode.index
        self._publish()
        verdict = "saved" if save else "discarded"
        self.get_logger().info(f"episode {index} stopped ({verdict})")
        return True, f"episode {index} {verdict}"

    def _timed_tick(self) -> None:
        with self.lock:
            step = self.lifecycle.timed_step(self._now())
        if step == "stop":
            self.stop(save=True)
            if self.lifecycle.finished:
                self.get_logger().info(f"timed mode: {plural(self.lifecycle.completed, 'episode')} done")
                if self.exit_when_done:
                    # A moment for the final status to reach the recorder before this node leaves the graph.
                    self.create_timer(2.0, self.context.try_shutdown, callback_group=self.timed_group)
        elif step == "start" and self._now() >= self.start_delay:
            if missing := self.missing_nodes():
                self.get_logger().info(f"timed mode: waiting for {', '.join(missing)}", throttle_duration_sec=5.0)
                return
            ok, message = self.start("", "", -1)
            if not ok:
                self.get_logger().error(f"cannot start an episode: {message}")

    def _on_start(self, request: StartEpisode.Request, response: StartEpisode.Response) -> StartEpisode.Response:
        response.success, response.message = self.start(request.task, request.metadata, int(request.seed))
        response.episode_index, response.seed = self.status.episode_index, self.status.seed
        return response

    def _on_stop(self, request: StopEpisode.Request, response: StopEpisode.Response) -> StopEpisode.Response:
        response.success, response.message = self.stop(request.save, request.outcome, request.notes)
        return response

    def _on_reset(self, request: ResetEpisode.Request, response: ResetEpisode.Response) -> ResetEpisode.Response:
        with self.lock:
            running = self.lifecycle.running
        if running:
            self.stop(save=False)
        seed = int(request.seed) if request.seed >= 0 else self.lifecycle.next_seed
        response.success, response.message = self._reset_scene(seed)
        return response

    def _on_score(self, request: ScoreEpisode.Request, response: ScoreEpisode.Response) -> ScoreEpisode.Response:
        try:
            response.message = score_episode(Path(self.dataset_dir), request)
            response.success = True
        except (ValueError, OSError, LookupError) as e:
            response.success, response.message = False, str(e)
        return response


def score_episode(dataset_dir: Path, request: ScoreEpisode.Request) -> str:
    """Appends a score to the dataset's log (recorded files are never rewritten); returns what was scored."""
    from positronic_core.dataset.reader import Dataset
    from positronic_core.runs.score_log import ScoreLog, parse_score, score_key

    if not str(dataset_dir) or not dataset_dir.is_dir():
        raise ValueError("scoring needs the dataset_dir parameter pointing at the recorder's dataset")
    episodes = list(Dataset(dataset_dir))
    if not episodes:
        raise LookupError(f"no finished episodes in {dataset_dir}")
    if request.episode:
        matches = [ep for ep in episodes if str(ep.path.relative_to(dataset_dir)) == request.episode]
        if not matches:
            raise LookupError(f"episode {request.episode!r} not found in {dataset_dir}")
        episode = matches[0]
    else:
        episode = episodes[-1]
    body = {"outcome": request.outcome or None, "failure_mode": request.failure_mode, "notes": request.notes}
    if request.total_items:
        body["items_total"] = int(request.total_items)
        body["items_successful"] = int(request.successful_items)
    ScoreLog(dataset_dir).append(score_key(episode.meta, episode.path, dataset_dir), parse_score(body))
    return f"scored {episode.path.relative_to(dataset_dir)}: {request.outcome}"


def main(args: list[str] | None = None) -> None:
    spin(EpisodeDriverNode, args, executor=lambda: MultiThreadedExecutor(num_threads=4))
