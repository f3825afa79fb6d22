"""`--backend=openpi` against a stand-in openpi server (openpi's real wire via openpi-client), over real sockets and
real child processes: translation both ways, warm-up, a vendor that dies or never comes up, switching checkpoints,
and no orphan vendor after SIGTERM or SIGINT."""

import contextlib
import json
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from processes import is_running, read_pid_file, running_with_argument, wait_gone
from upstream import UpstreamClient, guide_observation, upstream_missing_reason

from positronic_core.codecs import get_codec
from positronic_core.geometry import quat_wxyz_to_matrix
from positronic_core.serve import model_pool, vendor_process
from positronic_core.serve.backends.openpi import openpi_source
from positronic_core.serve.server import running_server
from positronic_core.wire.client import InferenceClient, InferenceError

STAND_IN = Path(__file__).resolve().parents[1] / "support" / "openpi_stand_in.py"
STUCK_S = 60.0

QUAT = np.array([0.9238795, 0.0, 0.3826834, 0.0])  # 45 degrees about y
OBS = {
    "robot_state.ee_pose": np.array([0.4, 0.1, 0.3, *QUAT]),
    "robot_state.q": np.array([0.0, -0.5, 0.0, -2.0, 0.0, 1.5, 0.8]),
    "robot_state.dq": np.zeros(7),
    "grip": np.float32(0.25),
    "image.wrist": np.full((240, 320, 3), 80, np.uint8),
    "image.exterior": np.full((480, 640, 3), 160, np.uint8),
    "task": "stack the cubes",
}


def stand_in_command(*flags: str) -> str:
    return shlex.join([sys.executable, str(STAND_IN), *flags]) + " --port {port} --policy.dir {checkpoint_dir}"


@pytest.fixture
def checkpoints(tmp_path):
    root = tmp_path / "run"
    for step in ("1000", "2000"):
        (root / step / "params").mkdir(parents=True)
    return root


@pytest.fixture(autouse=True)
def _no_vendor_left():
    yield
    leftover = vendor_process.running()
    vendor_process.stop_all()
    assert not leftover, "a test left vendor servers running"


def _serve(checkpoints, *flags, codec="ee", start_timeout_s=STUCK_S):
    source = openpi_source(checkpoints, get_codec(codec), command=stand_in_command(*flags), cwd=None,
                           start_timeout_s=start_timeout_s)
    return running_server(source)


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ee_observations_reach_openpi_as_its_inputs_and_actions_come_back_cartesian(checkpoints, tmp_path):
    log = tmp_path / "requests.jsonl"
    with _serve(checkpoints, f"--log={log}", "--horizon=5") as server:
        with InferenceClient("127.0.0.1", server.port).new_session() as session:
            meta = session.meta
            chunk = session.infer(OBS)
    assert meta["type"] == "openpi" and meta["codec"] == "ee" and meta["action_fps"] == 15.0
    assert meta["model_id"] == "2000" and meta["checkpoint_path"] == str(checkpoints / "2000")
    assert meta["image_sizes"] == {"image.wrist": [224, 224], "image.exterior": [224, 224]}
    assert meta["openpi_metadata"]["stand_in"] is True
    assert meta["openpi_metadata"]["checkpoint"] == str((checkpoints / "2000").resolve())

    warm_up, request = _log(log)
    assert warm_up["prompt"] == "warm up"  # one inference before the first session was ready
    assert request["prompt"] == "stack the cubes"
    assert request["observation/image"] == [224, 224, 3] and request["observation/wrist_image"] == [224, 224, 3]
    assert set(request) == {"observation/state", "observation/image", "observation/wrist_image", "prompt", "state"}
    np.testing.assert_allclose(request["state"], [0.4, 0.1, 0.3, *QUAT, 0.25], rtol=1e-6)

    assert len(chunk) == 5
    rotation = quat_wxyz_to_matrix(QUAT / np.linalg.norm(QUAT)).reshape(9)
    for i, action in enumerate(chunk):
        assert action["robot_command"]["type"] == "cartesian_pos"
        pose = np.asarray(action["robot_command"]["pose"])
        np.testing.assert_allclose(pose[:3], [0.4 + 0.01 * i, 0.1, 0.3], atol=1e-6)
        np.testing.assert_allclose(pose[3:], rotation, atol=1e-6)
        assert action["target_grip"] == pytest.approx(0.25)
        assert action["timestamp"] == pytest.approx(i / 15)


def test_loading_frames_report_the_vendor_starting_and_warming_up(checkpoints, monkeypatch):
    monkeypatch.setattr(model_pool, "PROGRESS_INTERVAL_S", 0.05)
    monkeypatch.setattr(vendor_process, "PROGRESS_EVERY_S", 0.05)
    with _serve(checkpoints, "--startup_s=2") as server:
        with InferenceClient("127.0.0.1", server.port).new_session() as session:
            assert session.infer(OBS)
    messages = [s["message"] for s in session.statuses]
    assert {s["status"] for s in session.statuses} == {"loading"}
    assert any("waiting for the openpi server" in m and "to come up" in m for m in messages), messages


def test_joints_codec_sends_joint_state_and_decodes_joint_targets(checkpoints, tmp_path):
    log = tmp_path / "requests.jsonl"
    with _serve(checkpoints, f"--log={log}", "--horizon=3", codec="joints") as server:
        with InferenceClient("127.0.0.1", server.port).new_session("1000") as session:
            chunk = session.infer(OBS)
    np.testing.assert_allclose(_log(log)[-1]["state"], [*OBS["robot_state.q"], 0.25], rtol=1e-6)
    assert [a["robot_command"]["type"] for a in chunk] == ["joint_pos"] * 3
    np.testing.assert_allclose(chunk[2]["robot_command"]["positions"], OBS["robot_state.q"] + [0.02, 0, 0, 0, 0, 0, 0],
                               atol=1e-6)


def test_ee_joints_codec_sends_pose_grip_and_joints(checkpoints, tmp_path):
    log = tmp_path / "requests.jsonl"
    with _serve(checkpoints, f"--log={log}", "--horizon=2", codec="ee_joints") as server:
        with InferenceClient("127.0.0.1", server.port).new_session() as session:
            chunk = session.infer(OBS)
    np.testing.assert_allclose(_log(log)[-1]["state"], [0.4, 0.1, 0.3, *QUAT, 0.25, *OBS["robot_state.q"]], rtol=1e-6)
    assert [a["robot_command"]["type"] for a in chunk] == ["cartesian_pos"] * 2


def test_a_vendor_dying_mid_episode_gives_error_replies_and_the_next_session_restarts_it(checkpoints, tmp_path):
    pid_file, die = tmp_path / "pid", tmp_path / "die"
    with _serve(checkpoints, f"--pid_file={pid_file}", f"--die_when={die}") as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session() as session:
            assert session.infer(OBS)
            (first_pid,) = read_pid_file(pid_file)
            pid_file.unlink()
            die.touch()
            with pytest.raises(InferenceError, match="openpi server exited with code 17"):
                session.infer(OBS)
            with pytest.raises(InferenceError, match="openpi server exited with code 17"):
                session.infer(OBS)  # the session stays open and keeps saying why
        with client.new_session() as session:
            assert len(session.infer(OBS)) == 10
            (second_pid,) = read_pid_file(pid_file)
    assert second_pid != first_pid and not is_running(first_pid)


def test_an_openpi_exception_is_an_error_reply_and_the_session_goes_on(checkpoints):
    with _serve(checkpoints) as server, InferenceClient("127.0.0.1", server.port).new_session() as session:
        with pytest.raises(InferenceError, match="openpi server failed: .*RuntimeError: the stand-in policy was "
                                                 "told to raise"):
            session.infer({**OBS, "task": "raise"})
        assert len(session.infer(OBS)) == 10


def test_a_vendor_that_never_comes_up_is_a_clear_error_after_the_timeout(checkpoints, tmp_path):
    pid_file = tmp_path / "pid"
    with _serve(checkpoints, f"--pid_file={pid_file}", "--never_listen", start_timeout_s=1.0) as server:
        with pytest.raises(InferenceError, match=r"loading model 2000 failed: VendorStartError: the openpi server "
                                                 r"did not answer on port \d+ within 1 s"):
            InferenceClient("127.0.0.1", server.port).new_session()
        # Whether or not it got as far as writing its pid, nothing with its command line runs any more.
        assert running_with_argument(str(pid_file)) == []


def test_a_vendor_that_exits_at_start_is_reported_with_its_output(checkpoints):
    with _serve(checkpoints, "--horizon=many") as server:
        with pytest.raises(InferenceError, match=r"(?s)openpi server exited with code 2 before it answered.*"
                                                 r"invalid int value: 'many'"):
            InferenceClient("127.0.0.1", server.port).new_session()


def test_each_checkpoint_runs_its_own_vendor_and_a_switch_stops_the_old_one(checkpoints, tmp_path):
    pid_file = tmp_path / "pid"
    with _serve(checkpoints, f"--pid_file={pid_file}") as server:
        client = InferenceClient("127.0.0.1", server.port)
        with client.new_session("1000") as session:
            assert session.meta["openpi_metadata"]["checkpoint"].endswith("1000")
            (first,) = read_pid_file(pid_file)
            pid_file.unlink()
        with client.new_session("2000") as session:
            assert session.meta["openpi_metadata"]["checkpoint"].endswith("2000")
            (second,) = read_pid_file(pid_file)
            assert not is_running(first) and is_running(second)
    assert wait_gone([second]) == []


SERVE = textwrap.dedent("""
    import sys

    sys.argv[0] = "positronic-policy-server"
    from positronic_core.cli.policy_server import main
    main()
""")


@contextlib.contextmanager
def _server_process(checkpoints, tmp_path, *stand_in_flags):
    """`positronic-policy-server --backend=openpi` as a process, and its port once it listens."""
    command = stand_in_command(*stand_in_flags)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--backend=openpi", f"--checkpoints_dir={checkpoints}", "--port=0",
         "--codec=@positronic.vendors.openpi.codecs.ee", f"--vendor_cwd={tmp_path}", f"--vendor_command={command}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert "models ['1000', '2000'] on http://127.0.0.1:" in line, server.stderr.read()
        yield server, int(line.rsplit(":", 1)[1].split("/")[0])
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_with_a_signal_leaves_no_vendor_process(checkpoints, tmp_path, stop_signal):
    pid_file = tmp_path / "pid"
    with _server_process(checkpoints, tmp_path, f"--pid_file={pid_file}") as (server, port):
        with InferenceClient("127.0.0.1", port).new_session() as session:
            assert len(session.infer(OBS)) == 10
            (vendor,) = read_pid_file(pid_file)
            server.send_signal(stop_signal)
            assert server.wait(timeout=STUCK_S) == 0
        assert not is_running(vendor)


def test_sigterm_while_a_vendor_is_still_starting_stops_it_at_once(checkpoints, tmp_path):
    pid_file = tmp_path / "pid"
    with _server_process(checkpoints, tmp_path, f"--pid_file={pid_file}", "--never_listen") as (server, port):
        refused = []
        opening = threading.Thread(target=lambda: refused.append(_refused(port)))
        opening.start()
        (vendor,) = read_pid_file(pid_file)  # it is starting, and would go on for the 600 s start-up timeout
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=STUCK_S) == 0
        opening.join(STUCK_S)
        assert refused == [True]
        assert not is_running(vendor)


def _refused(port: int) -> bool:
    try:
        InferenceClient("127.0.0.1", port).new_session()
    except InferenceError:
        return True
    return False


def test_bad_backend_flags_are_one_line_before_anything_starts(checkpoints, tmp_path):
    def refuse(*flags):
        done = subprocess.run([sys.executable, "-c", SERVE, "--backend=openpi", *flags], capture_output=True,
                              text=True, timeout=STUCK_S)
        assert done.returncode != 0 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]

    command = f"--vendor_command={stand_in_command()}"
    assert "--checkpoints_dir is required for --backend=openpi" in refuse(command)
    assert "unknown codec '@positronic.vendors.openpi.codecs.droid'" in refuse(
        f"--checkpoints_dir={checkpoints}", "--codec=@positronic.vendors.openpi.codecs.droid", command)
    assert f"working directory {tmp_path / 'nowhere'} does not exist" in refuse(
        f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={tmp_path / 'nowhere'}", command)
    assert "program 'no-such-uv' is not found" in refuse(
        f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={tmp_path}", "--vendor_command=no-such-uv run {port} "
                                                                         "{checkpoint_dir}")
    assert "lacks the {checkpoint_dir} placeholder" in refuse(
        f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={tmp_path}", "--vendor_command=python serve.py {port}")
    assert "--backend=openpi takes no variant, got 'ee_rot6d'" in refuse(
        "ee_rot6d", f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={tmp_path}", command)


@pytest.mark.skipif(upstream_missing_reason() is not None, reason=str(upstream_missing_reason()))
def test_upstream_0_2_1_client_gets_openpi_actions_it_can_execute(checkpoints):
    with _serve(checkpoints, "--horizon=4") as server, UpstreamClient("127.0.0.1", server.port) as upstream:
        meta = upstream.new_session()
        assert meta["type"] == "openpi" and meta["model_id"] == "2000"
        reply = upstream.infer(seed=3)
    obs = guide_observation(3)
    pose = obs["robot_state.ee_pose"]
    decoded = reply["decoded"]  # what upstream's harness makes of each action before it moves an arm
    assert [d["class"] for d in decoded] == ["CartesianPosition"] * 4
    for i, action in enumerate(decoded):
        np.testing.assert_allclose(action["translation"], pose[:3] + [0.01 * i, 0, 0], atol=1e-6)
        np.testing.assert_allclose(action["rotation"], quat_wxyz_to_matrix(pose[3:]), atol=1e-6)
        assert action["target_grip"] == pytest.approx(obs["grip"], abs=1e-6)
