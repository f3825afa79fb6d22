"""The four nodes as their own processes, driven through their services from an rclpy client the way a user's
script would: models listed from a live `positronic-policy-server --backend=hold_pose`, a manual episode started,
the server killed mid-episode (the arm holds within one tick, seen on the command topic), the episode saved,
converted and scored, and the next episode reconnecting. The policy node also drives the arm from upstream 0.4.1's
own protocol v3 server, whose one model it lists. Also: a bad parameter stops a node at start, naming it.
Needs rclpy and rosbags only, so it runs on PyPI's ROS 2 wheels as on a full install."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ros_client import RosClient
from ros_session import node_command, start_node, stop_processes

pytestmark = pytest.mark.timeout(420)

SERVER = Path(sys.executable).parent / "positronic-policy-server"
TICK_NS = round(1e9 / 15)  # policy_fps in config/sim.yaml


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(port, log):
    proc = subprocess.Popen([str(SERVER), "--backend=hold_pose", f"--port={port}"], stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/models", timeout=2).read()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "policy server did not start"
            time.sleep(0.5)


class Client(RosClient):
    """A user's rclpy script: service calls and topic listeners."""

    def __init__(self):
        from geometry_msgs.msg import PoseStamped

        from positronic_interfaces.msg import InferenceStats
        from positronic_interfaces.srv import ListModels, ScoreEpisode, StartEpisode, StopEpisode

        super().__init__("test_client")
        self.commands, self.stats = [], []
        self.node.create_subscription(PoseStamped, "/command/pose", self.commands.append, 50)
        self.node.create_subscription(InferenceStats, "/policy/stats", self.stats.append, 50)
        self.types = {"/policy/list_models": ListModels, "/episode/start": StartEpisode,
                      "/episode/stop": StopEpisode, "/episode/score": ScoreEpisode}

    def call(self, name, timeout=60, **fields):
        return super().call(name, self.types[name], timeout, **fields)

    def start_episode(self):
        """The driver may answer before the sim node's reset service or the policy node is up; a user's script
        retries, as this does."""
        return self.call_until_ready("/episode/start", self.types["/episode/start"], ("not available", "not up yet"),
                                     task="hold still")


def _stamp(msg):
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_services_a_live_server_its_loss_and_a_reconnect(tmp_path, no_process_left):
    from positronic_core.dataset.reader import Dataset
    from positronic_core.runs.score_log import ScoreLog, score_key

    port = _free_port()
    dataset = tmp_path / "dataset"
    sim_time = "use_sim_time:=true"
    log = open(tmp_path / "nodes.log", "w")
    server = _start_server(port, log)
    nodes = [
        start_node("sim_node", log, "camera_width:=160", "camera_height:=120"),
        start_node("policy_node", log, sim_time, "policy:=remote", "host:=127.0.0.1", f"port:={port}"),
        start_node("episode_driver_node", log, sim_time, "mode:=manual", f"dataset_dir:={dataset}"),
        start_node("recorder_node", log, sim_time, f"output_dir:={tmp_path / 'bags'}", f"dataset_dir:={dataset}"),
    ]
    client = Client()
    try:
        models = client.call("/policy/list_models")
        assert models.success and list(models.models) == ["1"], models.message

        started = client.start_episode()
        assert started.success, started.message
        client.spin_until(lambda: len(client.commands) >= 10, 120, "commands from the remote policy")

        server.kill()
        server.wait()
        client.spin_until(lambda: any(s.errors for s in client.stats), 60, "the policy node to notice the loss")
        client.spin_for(2.0)
        failed_at = min(_stamp(s) for s in client.stats if s.errors)
        assert max(_stamp(c) for c in client.commands) <= failed_at + TICK_NS, "commands went on after the loss"
        assert not client.stats[-1].session_open

        stopped = client.call("/episode/stop", save=True)
        assert stopped.success, stopped.message
        deadline = time.monotonic() + 120
        while not (dataset.is_dir() and list(Dataset(dataset))):
            assert time.monotonic() < deadline, "the episode was not converted"
            time.sleep(0.5)
        scored = client.call("/episode/score", outcome="failure", failure_mode="server lost", notes="killed")
        assert scored.success, scored.message
        (episode,) = list(Dataset(dataset))
        log_ = ScoreLog(dataset)
        log_.refresh()
        score = log_.latest(score_key(episode.meta, episode.path, dataset))
        assert score is not None and score.outcome == "failure" and score.failure_mode == "server lost"
        assert "inference.latency_ms" in episode.signal_names and episode.static["task"] == "hold still"

        server = _start_server(port, log)
        before = len(client.commands)
        assert client.start_episode().success
        client.spin_until(lambda: len(client.commands) >= before + 5, 120, "commands after reconnecting")
        assert client.stats[-1].session_open
        assert client.call("/episode/stop", save=False).success
    finally:
        client.close()
        stop_processes([*nodes, server])
        log.close()


def test_the_policy_node_lists_and_plays_an_upstream_0_4_1_v3_server(tmp_path, no_process_left):
    from upstream04 import upstream04_missing_reason
    from upstream04_servers import Upstream04Server

    if upstream04_missing_reason() is not None:
        pytest.skip(upstream04_missing_reason())
    log = open(tmp_path / "nodes.log", "w")
    with Upstream04Server("v3") as server:
        nodes = [
            start_node("sim_node", log, "camera_width:=160", "camera_height:=120"),
            start_node("policy_node", log, "use_sim_time:=true", "policy:=remote", "host:=127.0.0.1",
                       f"port:={server.port}"),
            start_node("episode_driver_node", log, "use_sim_time:=true", "mode:=manual"),
        ]
        client = Client()
        try:
            models = client.call("/policy/list_models")
            assert models.success and list(models.models) == ["hold-v3"], models.message
            started = client.start_episode()
            assert started.success, started.message
            # The server's raw output, decoded by the stack it declared, reaches the arm as Cartesian targets.
            client.spin_until(lambda: len(client.commands) >= 10, 120, "commands from the 0.4.1 server")
            assert client.stats[-1].session_open and not client.stats[-1].errors
            assert client.call("/episode/stop", save=False).success
        finally:
            client.close()
            stop_processes(nodes)
            log.close()


def test_an_episode_does_not_start_before_the_policy_node_is_up(tmp_path, no_process_left):
    """config/sim.yaml's driver waits for policy_node: an episode started while the policy still loads would run
    with the arm standing still."""
    import rclpy

    from positronic_interfaces.msg import EpisodeStatus

    log = open(tmp_path / "nodes.log", "w")
    driver = start_node("episode_driver_node", log, "mode:=manual", "reset_service:=''")
    client = Client()
    try:
        refused = client.call("/episode/start", task="stack")
        assert not refused.success and "policy_node not up yet" in refused.message, refused.message
        # What the policy node does once its policy is built.
        policy = rclpy.create_node("policy_node", context=client.context)
        policy.create_subscription(EpisodeStatus, "/episode/status", lambda msg: None, 1)
        try:
            started = client.call_until_ready("/episode/start", client.types["/episode/start"], ("not up yet",),
                                              timeout=30, task="stack")
            assert started.success, started.message
            assert client.call("/episode/stop", save=False).success
        finally:
            policy.destroy_node()
    finally:
        client.close()
        stop_processes([driver])
        log.close()


@pytest.mark.parametrize("node, params, named", [
    ("policy_node", ["policy:=telepathy"], "parameter policy must be scripted, remote or act"),
    ("policy_node", ["policy_fps:=-15.0"], "parameter policy_fps must be positive"),
    ("episode_driver_node", ["mode:=sometimes"], "parameter mode must be timed or manual"),
    ("episode_driver_node", ["mode:=timed", "duration:=-1.0"], "duration must be positive"),
    ("sim_node", ["camera_fps:=-1.0"], "camera_fps"),
])
def test_a_bad_parameter_stops_the_node_at_start_naming_it(tmp_path, node, params, named, no_process_left):
    result = subprocess.run(node_command(node, *params), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr, result.stderr
