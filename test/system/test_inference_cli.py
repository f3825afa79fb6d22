"""`positronic-inference sim` run the way a user runs it: flags, recording, crash safety, scheduling under latency."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from positronic_core.dataset.reader import Dataset
from positronic_core.stacking_task import TASK

BIN = Path(sys.executable).parent / "positronic-inference"
FAST = ["--camera_width=96", "--camera_height=72"]


def run_cli(*args, timeout=300):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def test_unknown_flag_fails_before_anything_starts(tmp_path):
    out = tmp_path / "rec"
    result = run_cli("sim", "--policy=.remote", "--policy.hots=gpu-box", f"--output_dir={out}")
    assert result.returncode == 2
    assert "unknown flag --policy.hots" in result.stderr and "--policy.host" in result.stderr
    assert not out.exists()


def test_bad_value_is_named_by_its_flag(tmp_path):
    result = run_cli("sim", "--driver.simulation_time=-1", f"--output_dir={tmp_path / 'rec'}")
    assert result.returncode == 2
    assert "--driver" in result.stderr and "simulation_time must be positive" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_flags():
    result = run_cli("sim", "--help")
    assert result.returncode == 0
    for flag in ("--policy=.remote", "--policy.host", "--policy.resize", "--driver.simulation_time",
                 "--driver.num_iterations", "--output_dir", "--simulate_timeout", "act_absolute"):
        assert flag in result.stdout


def test_unwritable_output_dir_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("sim", f"--output_dir={blocker}/rec", *FAST)
    assert result.returncode != 0
    assert str(blocker) in result.stderr
    assert "episode 0" not in result.stdout


def test_records_episodes_and_appends_on_rerun(tmp_path):
    out = tmp_path / "rec"
    first = run_cli("sim", f"--output_dir={out}", "--driver.simulation_time=1", "--driver.num_iterations=2", *FAST)
    assert first.returncode == 0, first.stderr
    assert "episode 0 seed=0" in first.stdout and "episode 1 seed=1" in first.stdout
    assert f"{BIN.parent / 'positronic-server'} --dataset.path={out}" in first.stdout
    second = run_cli("sim", f"--output_dir={out}", "--driver.simulation_time=1", "--seed=7", *FAST)
    assert second.returncode == 0, second.stderr
    episodes = list(Dataset(out))
    assert [ep.id for ep in episodes] == [0, 1, 2]
    ep = episodes[2]
    assert ep.static["simulation.seed"] == 7
    assert ep.static["inference.policy.type"] == "scripted"
    assert ep.static["task"] == TASK
    for name in ("robot_state.q", "robot_state.dq", "robot_state.ee_pose", "grip", "robot_commands.pose",
                 "target_grip", "image.wrist", "image.exterior", "image.agent_view", "box_distance",
                 "stacking_success", "inference.latency_ms", "inference.chunk_size", "inference.chunk",
                 "inference.idle"):
        assert name in ep.signal_names, name
    assert len(ep.signal("robot_state.q").timestamps) == 15
    # each request's chunk: 15 scripted actions of (x, y, z, qw, qx, qy, qz, grip), at the request times
    chunk = ep.signal("inference.chunk")
    np.testing.assert_array_equal(chunk.timestamps, ep.signal("inference.chunk_size").timestamps)
    assert chunk.values.shape[1] == 15 * 8


def test_sigkill_mid_episode_keeps_earlier_episodes_and_marks_the_partial_one(tmp_path):
    out = tmp_path / "rec"
    proc = subprocess.Popen([str(BIN), "sim", f"--output_dir={out}", "--driver.simulation_time=2",
                             "--driver.num_iterations=5", *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = out / "000000000000" / "000000000001"
    deadline = time.monotonic() + 240
    while not (partial / ".unfinished").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    episodes = list(Dataset(out))
    assert [ep.id for ep in episodes] == [0]
    assert len(episodes[0].signal("robot_state.q").timestamps) == 30
    assert (partial / ".unfinished").exists()
    rerun = run_cli("sim", f"--output_dir={out}", "--driver.simulation_time=1", *FAST)
    assert rerun.returncode == 0, rerun.stderr
    assert [ep.id for ep in Dataset(out)] == [0, 2]


@pytest.mark.parametrize("simulate_timeout", [True])
def test_no_idle_ticks_between_chunks_with_a_slow_remote_model(tmp_path, simulate_timeout):
    from positronic_core.policy.remote import RemotePolicy
    from positronic_core.runtime.drivers.timed import TimedDriver
    from positronic_core.runtime.sim_runtime import SimRuntime
    from positronic_core.serve.backends.hold_pose import HoldPoseSource
    from positronic_core.serve.server import running_server
    from positronic_core.sim.stack_cubes import StackCubesSim

    sim = StackCubesSim(camera_size=(96, 72))
    try:
        with running_server(HoldPoseSource(latency_s=0.3, chunk_size=30)) as server:
            policy = RemotePolicy("127.0.0.1", server.port)
            runtime = SimRuntime(sim, policy, output_dir=tmp_path / "rec", cameras=["image.wrist", "image.exterior"],
                                 simulate_timeout=simulate_timeout, out=open(os.devnull, "w"))
            TimedDriver(simulation_time=6.0, task="hold").run(runtime)
            runtime.close()
    finally:
        sim.close()
    stats = runtime.completed[0].stats
    assert stats.requests >= 4  # 6 s of 2 s chunks: the run spans several chunk boundaries
    assert min(stats.latencies_s) >= 0.3  # the server's own delay, charged to simulated time
    # The arm waits for the first chunk exactly as many ticks as its measured latency spans; afterwards the next
    # chunk is always there in time.
    assert stats.idle_ticks == math.ceil(stats.latencies_s[0] * 15 - 1e-9)
    assert stats.idle_ticks_after_first == 0
    assert Dataset(tmp_path / "rec")[0].static["inference.policy.server.model_id"] == "1"


def test_gui_driver_without_a_display_fails_before_anything_starts(tmp_path):
    out = tmp_path / "rec"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([str(BIN), "sim", "--driver=.eval_ui", f"--output_dir={out}", *FAST],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert "the eval_ui driver needs a display" in result.stderr
    assert not out.exists()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_server_that_is_down_is_one_line_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "rec"
    result = run_cli("sim", "--policy=.remote", "--policy.host=127.0.0.1", f"--policy.port={_free_port()}",
                     f"--output_dir={out}", *FAST)
    assert result.returncode == 1
    assert "cannot reach policy server at 127.0.0.1" in _one_error_line(result.stderr)
    assert not out.exists()
    assert "no episodes run" in result.stdout and "review with" not in result.stdout


def test_a_model_the_server_does_not_have_is_one_line_and_leaves_nothing_behind(tmp_path):
    from positronic_core.serve.backends.hold_pose import HoldPoseSource
    from positronic_core.serve.server import running_server

    out = tmp_path / "rec"
    with running_server(HoldPoseSource(["a", "b"])) as server:
        result = run_cli("sim", "--policy=.remote", "--policy.host=127.0.0.1", f"--policy.port={server.port}",
                         "--policy.model_id=zzz", f"--output_dir={out}", *FAST)
    assert result.returncode == 1
    assert "zzz" in _one_error_line(result.stderr)
    assert not out.exists()


def test_without_an_output_dir_nothing_is_said_to_be_saved():
    result = run_cli("sim", "--driver.simulation_time=0.5", *FAST)
    assert result.returncode == 0, result.stderr
    assert "1 episode (not recorded: no --output_dir)" in result.stdout
    assert "saved" not in result.stdout and "recorded to" not in result.stdout


def test_ctrl_c_keeps_finished_episodes_discards_the_cut_one_and_exits_130(tmp_path):
    out = tmp_path / "rec"
    proc = subprocess.Popen([str(BIN), "sim", f"--output_dir={out}", "--driver.simulation_time=2",
                             "--driver.num_iterations=5", *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    second = out / "000000000000" / "000000000001"
    deadline = time.monotonic() + 240
    while not (second / ".unfinished").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "episode 1 seed=1: interrupted at" in stdout and "discarded" in stdout
    assert "1 episode, 1 recorded; 1 interrupted episode discarded" in stdout
    assert [ep.id for ep in Dataset(out)] == [0]
    assert not second.exists()
