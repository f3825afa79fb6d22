"""`positronic-eval sweep` as a user runs it: a real policy server (hold_pose, two models), real worker processes
(the local pool, and a local Ray cluster), real recordings; resume, a worker killed mid-task, bad input."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ray_cluster import cluster_env, listening_hosts, ray_head, ray_missing

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset

BIN = Path(sys.executable).parent / "positronic-eval"
ROOT = Path(__file__).resolve().parents[2]
MODELS = ("a", "b")
SEEDS = range(4)
# Short, small episodes: the sweep's machinery is under test, not the simulator.
FAST = ["--episodes=4", "--seed=0", "--driver.simulation_time=1", "--camera_width=64", "--camera_height=48",
        "--cameras=image.wrist", "--resamples=200"]
TIMEOUT_S = 420


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT / "src" / "positronic_core"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0"}


def sweep(*args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), "sweep", *args], capture_output=True, text=True, timeout=timeout,
                          env=cluster_env(_env()))


@pytest.fixture(scope="module")
def server():
    from positronic_core.serve.backends.hold_pose import HoldPoseSource
    from positronic_core.serve.server import running_server

    with running_server(HoldPoseSource(list(MODELS))) as running:
        yield f"127.0.0.1:{running.port}"


def outcomes(out: Path) -> dict[tuple[str, int], tuple]:
    """Per (model, seed): the verdict, the final stacking score and where the arm and cubes ended."""
    found = {}
    for model in MODELS:
        for episode in Dataset(out / model):
            static = episode.static
            assert episode.id == static["sweep.seed"] and static["sweep.model"] == model
            found[(model, episode.id)] = (
                static["eval.auto_success"], static["eval.final_stacking_success"],
                tuple(np.round(episode.signal("robot_state.q").values[-1], 6)),
                round(float(episode.signal("box_distance").values[-1]), 6))
    return found


def assert_nothing_half_written(out: Path) -> None:
    for model in MODELS:
        assert not (out / model / ".partial").exists()
        assert all(layout.is_finished(path) for _, path in layout.episode_dirs(out / model))


@pytest.fixture(scope="module")
def pool_sweep(server, tmp_path_factory):
    out = tmp_path_factory.mktemp("pool") / "sweep"
    result = sweep(f"--server={server}", f"--output_dir={out}", "--workers=2", *FAST)
    return out, result


def test_pool_sweep_records_every_model_on_the_same_seeds_and_reports(pool_sweep):
    out, result = pool_sweep
    assert result.returncode == 0, result.stderr
    assert set(outcomes(out)) == {(m, s) for m in MODELS for s in SEEDS}
    assert_nothing_half_written(out)
    assert "8 of 8 planned episodes recorded" in result.stdout
    assert "hold_pose:a  hold_pose:b  4" in result.stdout  # the paired comparison over the 4 shared seeds
    assert "Ranking" in result.stdout
    assert "8/8 episodes" in result.stderr and "ETA" in result.stderr


def test_rerun_resumes_and_runs_only_what_is_missing(pool_sweep, server, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(pool_sweep[0], out)
    shutil.rmtree(layout.episode_dir(out / "b", 2))
    kept = {p: p.stat().st_mtime_ns for p in (out / "a").rglob("meta.json")}
    result = sweep(f"--server={server}", f"--output_dir={out}", "--workers=2", *FAST)
    assert result.returncode == 0, result.stderr
    assert "7 episodes of 8 already recorded" in result.stderr
    assert "7 were already recorded (resumed)" in result.stdout
    assert set(outcomes(out)) == {(m, s) for m in MODELS for s in SEEDS}
    assert {p: p.stat().st_mtime_ns for p in (out / "a").rglob("meta.json")} == kept
    again = sweep(f"--server={server}", f"--output_dir={out}", "--workers=2", *FAST)
    assert again.returncode == 0 and "8 were already recorded" in again.stdout


def kill_a_worker_mid_task(pool_args: list[str], server: str, out: Path) -> None:
    """Runs a sweep, SIGKILLs the worker running (a, seed 1) once it has begun, and checks it was run again."""
    proc = subprocess.Popen([str(BIN), "sweep", f"--server={server}", f"--output_dir={out}", *pool_args, *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster_env(_env()))
    marker = out / "a" / ".partial" / "seed-1" / "worker.pid"
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "task (a, seed 1) never started"
            time.sleep(0.01)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "run again after a worker died" in stdout and "a seed 1" in stdout
    assert set(outcomes(out)) == {(m, s) for m in MODELS for s in SEEDS}
    assert_nothing_half_written(out)


def test_a_worker_killed_mid_task_is_retried_and_leaves_nothing_half_written(server, tmp_path):
    kill_a_worker_mid_task(["--workers=2"], server, tmp_path / "sweep")


@pytest.fixture(scope="module")
def ray_cluster():
    missing = ray_missing()
    if missing:
        pytest.skip(missing)
    with ray_head(cpus=2, env=_env()) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ray_address(ray_cluster):
    return ray_cluster.address


def test_ray_cluster_sweep_gives_the_local_pool_outcomes(pool_sweep, server, ray_address, tmp_path):
    out = tmp_path / "sweep"
    result = sweep(f"--server={server}", f"--output_dir={out}", f"--ray={ray_address}", *FAST)
    assert result.returncode == 0, result.stderr
    assert "8 of 8 planned episodes recorded" in result.stdout
    assert outcomes(out) == outcomes(pool_sweep[0])
    assert_nothing_half_written(out)


def test_a_ray_worker_killed_mid_task_is_retried_and_leaves_nothing_half_written(server, ray_address, tmp_path):
    kill_a_worker_mid_task([f"--ray={ray_address}"], server, tmp_path / "sweep")


def test_the_local_ray_cluster_listens_on_loopback_only(ray_cluster, ray_address):
    # After the sweeps above, so that the workers Ray started hold their listeners too.
    hosts = listening_hosts(ray_cluster.processes())
    assert hosts == {"127.0.0.1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_an_unknown_model_is_one_line_and_nothing_runs(server, tmp_path):
    result = sweep(f"--server={server}", "--models=a,zzz", f"--output_dir={tmp_path / 'out'}", *FAST)
    assert result.returncode == 2
    assert "unknown model 'zzz'" in _one_line(result) and "available: a, b" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_rerun_under_other_simulation_flags_is_one_line_and_nothing_runs(server, tmp_path):
    out = tmp_path / "out"
    args = [a for a in FAST if not a.startswith(("--episodes", "--driver.simulation_time"))]
    args += [f"--server={server}", f"--output_dir={out}", "--models=a", "--episodes=1", "--workers=1"]
    first = sweep(*args, "--driver.simulation_time=1")
    assert first.returncode == 0, first.stderr
    again = sweep(*args, "--driver.simulation_time=2")
    assert again.returncode == 2
    assert _one_line(again) == (
        f"positronic-eval sweep: error: {out} holds episodes recorded under other simulation flags "
        "(--driver.simulation_time was 1.0, now 2.0): give the original flags to resume, or a new --output_dir")
    assert [e.id for e in Dataset(out / "a")] == [0] and not (out / "a" / ".partial").exists()


def test_an_unreachable_server_is_one_line(tmp_path):
    result = sweep(f"--server=127.0.0.1:{_free_port()}", f"--output_dir={tmp_path / 'out'}", *FAST)
    assert result.returncode == 1
    assert "cannot reach policy server at 127.0.0.1" in _one_line(result)


def test_a_bad_ray_address_is_one_line(server, tmp_path):
    result = sweep(f"--server={server}", f"--output_dir={tmp_path / 'out'}", f"--ray=127.0.0.1:{_free_port()}",
                   *FAST)
    assert result.returncode == 1
    assert "cannot reach the Ray cluster at 127.0.0.1" in _one_line(result)
    result = sweep(f"--server={server}", f"--output_dir={tmp_path / 'out'}", "--ray=nonsense", *FAST)
    assert result.returncode == 1 and "expected local, auto or HOST:PORT" in _one_line(result)


def test_until_decided_stops_adding_seeds_and_says_what_it_saved(server, tmp_path):
    # Two identical models: "no difference of 0.9 or more" is decided after 9 paired seeds of the planned 12.
    args = [a for a in FAST if not a.startswith(("--episodes", "--driver.simulation_time"))]
    result = sweep(f"--server={server}", f"--output_dir={tmp_path / 'out'}", "--workers=2", "--episodes=12",
                   "--driver.simulation_time=0.5", "--until-decided=0.9", *args)
    assert result.returncode == 0, result.stderr
    assert "no success difference of 0.9 or more between a and b" in result.stdout
    assert "after 9 of 12 paired seeds" in result.stdout
    run = sum(len(list(Dataset(tmp_path / "out" / m))) for m in MODELS)
    assert 18 <= run <= 20  # the 9 pairs, and what was in flight when the rule decided
    assert f"stop: {run} of 24 planned episodes run, {24 - run} saved" in result.stdout


def test_help_explains_every_flag():
    result = subprocess.run([str(BIN), "sweep", "--help"], capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 0
    for flag in ("--server", "--checkpoints_dir", "--models", "--episodes", "--seed", "--output_dir", "--workers",
                 "--ray", "--until-decided", "--decide_on", "--driver.simulation_time", "--camera_width",
                 "--cameras", "--render_quality", "--simulate_timeout", "--policy.token", "--resamples"):
        assert flag in result.stdout, flag


def test_local_act_checkpoints_sweep_like_a_server(tmp_path):
    import tiny_act

    checkpoints = tmp_path / "act"
    tiny_act.make_tiny_act_checkpoint(checkpoints, seed=0, step=1000)
    tiny_act.make_tiny_act_checkpoint(checkpoints, seed=1, step=2000)
    out = tmp_path / "sweep"
    result = sweep(f"--checkpoints_dir={checkpoints}", f"--output_dir={out}", "--workers=2", "--episodes=2",
                   "--driver.simulation_time=1", "--camera_width=64", "--camera_height=48",
                   "--cameras=image.wrist,image.exterior", "--resamples=200")
    assert result.returncode == 0, result.stderr
    assert "4 of 4 planned episodes recorded" in result.stdout
    for step in ("001000", "002000"):
        episodes = list(Dataset(out / step))
        assert [e.id for e in episodes] == [0, 1]
        assert {e.static["inference.policy.checkpoint_id"] for e in episodes} == {step}
    assert "act:001000" in result.stdout and "act:002000" in result.stdout


def test_ray_local_starts_and_stops_its_own_cluster(pool_sweep, server, tmp_path):
    if ray_missing():
        pytest.skip(ray_missing())
    out = tmp_path / "sweep"
    token_file = Path.home() / ".ray" / "auth_token"
    had_token_file = token_file.exists()
    env = {k: v for k, v in _env().items() if not k.startswith("RAY_AUTH")}
    args = [a for a in FAST if not a.startswith("--episodes")] + ["--episodes=2"]
    result = subprocess.run([str(BIN), "sweep", f"--server={server}", f"--output_dir={out}", "--ray=local",
                             "--workers=2", *args], capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    assert result.returncode == 0, result.stderr
    expected = {key: value for key, value in outcomes(pool_sweep[0]).items() if key[1] < 2}
    assert outcomes(out) == expected
    assert token_file.exists() == had_token_file  # its token lived in its environment only
