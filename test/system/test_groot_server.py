"""`positronic-policy-server --backend=groot <variant>` as a user runs it, with the stand-in GR00T server
(test/support/groot_vendor_stub.py) started through `--vendor_command` in place of NVIDIA's run_gr00t_server.py."""

import json
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import groot_vendor_stub
import numpy as np
import pytest
from processes import read_pid_file, running_with_argument, wait_gone
from tiny_act import make_observation

from positronic_core.codecs.groot import get_variant
from positronic_core.dataset.reader import Dataset
from positronic_core.geometry import pose7_to_pose12
from positronic_core.robot.commands import CartesianPosition, action_from_wire
from positronic_core.serve.backends.groot import default_vendor_command
from positronic_core.wire.client import InferenceClient, InferenceError

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stand_in(variant: str, *flags: str) -> str:
    """The default vendor command for `variant` with the stand-in in place of run_gr00t_server.py."""
    default = shlex.split(default_vendor_command(get_variant(variant)))
    return shlex.join([sys.executable, groot_vendor_stub.__file__, *default[2:], *flags])


@pytest.fixture
def checkpoints(tmp_path):
    for step in (100, 2000):
        (tmp_path / "run" / f"checkpoint-{step}").mkdir(parents=True)
    (tmp_path / "run" / "runs").mkdir()  # not a checkpoint
    return tmp_path / "run"


class Server:
    def __init__(self, checkpoints: Path, variant: str | None, *flags: str, vendor_flags: tuple[str, ...] = ()):
        self.port = _free_port()
        positional = [variant] if variant else []
        self.process = subprocess.Popen(
            [str(BIN / "positronic-policy-server"), "--backend=groot", *positional,
             f"--checkpoints_dir={checkpoints}", f"--port={self.port}",
             f"--vendor_command={_stand_in(variant or 'ee', *vendor_flags)}", f"--vendor_cwd={checkpoints}",
             *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/models", timeout=1) as response:
                    self.models = json.load(response)["models"]
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"the server did not come up: {self.process.stderr.read()[-3000:]}")
                time.sleep(0.1)

    def client(self) -> InferenceClient:
        return InferenceClient("127.0.0.1", self.port, handshake_timeout=30, infer_timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.mark.parametrize(("variant", "pose_dim"), [("ee", 7), ("ee_rot6d_rel", 9)])
def test_sessions_get_absolute_cartesian_chunks(checkpoints, tmp_path, variant, pose_dim):
    server = Server(checkpoints, variant, vendor_flags=("--horizon=4",))
    try:
        assert server.models == ["100", "2000"]
        with server.client().new_session() as session:
            assert session.meta["type"] == "groot" and session.meta["groot_variant"] == variant
            assert session.meta["model_id"] == "2000"
            assert session.meta["checkpoint_path"] == str(checkpoints / "checkpoint-2000")
            assert session.meta["image_sizes"] == {"image.wrist": [224, 224], "image.exterior": [224, 224]}
            for seed in range(3):
                observation = make_observation(seed)
                actions = [action_from_wire(a) for a in session.infer(observation)]
                assert len(actions) == 4
                expected = pose7_to_pose12(observation["robot_state.ee_pose"])
                for step, action in enumerate(actions):
                    assert isinstance(action.command, CartesianPosition)
                    assert action.timestamp == pytest.approx(step / 15)
                    np.testing.assert_allclose(action.command.translation,
                                               expected[:3] + [0.01 * (step + 1), 0, 0], atol=1e-6)
                    np.testing.assert_allclose(action.command.rotation, expected[3:].reshape(3, 3), atol=1e-5)
                    assert action.target_grip == pytest.approx(1 - observation["grip"], abs=1e-6)
        with server.client().new_session("100") as session:
            assert session.meta["model_id"] == "100"
            assert len(session.infer(make_observation(0))) == 4
    finally:
        assert server.stop() == 0


def test_a_bad_observation_gets_an_error_reply_and_the_session_goes_on(checkpoints):
    server = Server(checkpoints, "ee_rot6d_joints")
    try:
        with server.client().new_session() as session:
            observation = make_observation(0)
            del observation["robot_state.q"]
            with pytest.raises(InferenceError, match="missing 'robot_state.q'"):
                session.infer(observation)
            assert len(session.infer(make_observation(0))) == 16
    finally:
        server.stop()


def test_a_vendor_dying_mid_episode_errs_that_episode_and_the_next_session_recovers(checkpoints, tmp_path):
    pid_file = tmp_path / "pids"
    # Each GR00T server answers the warm-up and one request, then dies on the next get_action.
    server = Server(checkpoints, "ee_rot6d", vendor_flags=("--die_after_actions=2", f"--pid_file={pid_file}"))
    try:
        with server.client().new_session() as session:
            first_vendor = read_pid_file(pid_file)
            assert len(session.infer(make_observation(0))) == 16
            with pytest.raises(InferenceError, match="the GR00T server exited with code 3"):
                session.infer(make_observation(1))
        assert wait_gone(first_vendor) == []
        pid_file.unlink()
        with server.client().new_session() as session:
            assert read_pid_file(pid_file) != first_vendor  # a new GR00T server serves this session
            assert len(session.infer(make_observation(2))) == 16
    finally:
        server.stop()


def test_a_vendor_that_never_comes_up_refuses_the_session_after_the_bound(checkpoints):
    server = Server(checkpoints, "ee", "--vendor_timeout_s=3", vendor_flags=("--never_ready",))
    try:
        with pytest.raises(InferenceError, match=r"did not answer on port \d+ within 3 s"):
            server.client().new_session()
        assert running_with_argument(str(checkpoints / "checkpoint-2000")) == []
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_no_vendor_process_outlives_the_server(checkpoints, tmp_path, sig):
    pid_file = tmp_path / "pids"
    server = Server(checkpoints, "ee", vendor_flags=(f"--pid_file={pid_file}", "--spawn_child"))
    with server.client().new_session() as session:
        vendor = read_pid_file(pid_file)
        assert len(vendor) == 2
        session.infer(make_observation(0))
        server.stop(sig)  # while the session is open
    assert wait_gone(vendor) == []


def test_an_unknown_variant_is_one_clear_line(checkpoints):
    result = subprocess.run([str(BIN / "positronic-policy-server"), "--backend=groot", "ee_quat",
                             f"--checkpoints_dir={checkpoints}"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "unknown GR00T variant 'ee_quat'; choose one of ee, ee_joints, ee_rot6d" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_rot6d_rel_checkpoint_drives_the_simulator(checkpoints, tmp_path):
    server = Server(checkpoints, "ee_rot6d_rel", vendor_flags=("--horizon=8",))
    try:
        out = tmp_path / "rec"
        result = subprocess.run(
            [str(BIN / "positronic-inference"), "sim", "--policy=.remote", "--policy.host=127.0.0.1",
             f"--policy.port={server.port}", f"--output_dir={out}", "--camera_width=96", "--camera_height=72",
             "--driver.simulation_time=1"], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        episode = Dataset(out)[0]
        assert episode.static["inference.policy.server.type"] == "groot"
        assert episode.static["inference.policy.server.checkpoint_id"] == "2000"
        assert len(episode.signal("robot_commands.pose").timestamps) > 0
    finally:
        server.stop()
