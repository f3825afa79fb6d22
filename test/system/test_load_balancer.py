"""docker/'s nginx balancer with the shipped configuration (docker/nginx/nginx.conf.template), run here with Debian's
nginx on loopback in front of two real `positronic-policy-server` replicas: sessions spread over both and stay on
theirs, the model listing and health agree through the balancer, and a replica killed with SIGKILL mid-run costs
exactly the sessions it held: for `positronic-inference sim`, the episode under way on it (discarded, one error line),
while the run on the other replica records all of its episodes; for `positronic-eval sweep`, nothing: the episodes it
held are run again on new sessions, which the balancer sends to the survivor."""

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from nginx_balancer import balancer, established_connections, nginx_binary, replicas

from positronic_core.dataset import layout
from positronic_core.dataset.reader import Dataset
from positronic_core.wire.client import InferenceClient, InferenceError

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="no nginx here (`make test` installs Debian's nginx)")

STUCK_S = 30.0
OBS = {"robot_state.ee_pose": np.array([0.4, 0.1, 0.3, 0.0, 1.0, 0.0, 0.0]), "grip": np.float32(0.0)}


def _get(port: int, path: str, token: str | None = None) -> tuple[int, dict | str]:
    """(HTTP status, JSON body or, for a refusal in plain text, the text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=STUCK_S) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        with e:
            body = e.read().decode()
            return e.code, json.loads(body) if e.headers["Content-Type"] == "application/json" else body


def _replica_port(session) -> int:
    # The ready frame names the port of the server that holds the session, i.e. which replica.
    return session.meta["port"]


def test_sessions_spread_and_a_killed_replica_costs_only_its_own(tmp_path):
    token = "s3cret"
    args = ["--backend=hold_pose", "--preload=True", f"--auth_token={token}"]
    with replicas(2, args, tmp_path) as (a, b), balancer([a.address, b.address], tmp_path / "nginx") as (port, _):
        assert _get(port, "/api/v1/health") == (200, {"status": "ready"})  # open to probes
        # The bearer token passes through nginx to the replica that checks it.
        assert _get(port, "/api/v1/models")[0] == 401
        listing = _get(port, "/api/v1/models", token)
        assert listing == _get(a.port, "/api/v1/models", token) == _get(b.port, "/api/v1/models", token) == (
            200, {"models": ["1"]})

        client = InferenceClient("127.0.0.1", port, token=token, infer_timeout=STUCK_S, handshake_timeout=STUCK_S)
        sessions = [client.new_session() for _ in range(4)]
        try:
            # least_conn: each new session goes to the replica holding fewer.
            held = {r.port: [s for s in sessions if _replica_port(s) == r.port] for r in (a, b)}
            assert {p: len(ss) for p, ss in held.items()} == {a.port: 2, b.port: 2}
            for session in sessions:  # and every frame of a session reaches the replica that greeted it
                for _ in range(3):
                    assert len(session.infer(OBS)) == 1

            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=STUCK_S)
            for session in held[a.port]:
                with pytest.raises(InferenceError, match=f"policy server at 127.0.0.1:{port} dropped the session "
                                   "during inference .*: the server, or the load-balanced replica holding the session, "
                                   "stopped"):
                    session.infer(OBS)
            for session in held[b.port]:  # the survivor's sessions do not notice
                assert len(session.infer(OBS)) == 1

            # New sessions: the dead replica refuses the connection, nginx moves on to the live one.
            for _ in range(3):
                session = client.new_session()
                sessions.append(session)
                assert _replica_port(session) == b.port
                assert len(session.infer(OBS)) == 1
            assert _get(port, "/api/v1/health") == (200, {"status": "ready"})
            assert _get(port, "/api/v1/models", token) == listing
        finally:
            for session in sessions:
                session.close()


def test_replicas_sharing_a_checkpoints_directory_list_the_same_models_through_the_balancer(tmp_path):
    # The openpi backend lists its directory without importing a model stack (its vendor command never runs: no
    # session opens here); every backend lists checkpoints the same way.
    checkpoints = tmp_path / "checkpoints"
    for step in ("000100", "000200"):
        (checkpoints / step).mkdir(parents=True)
    args = ["--backend=openpi", f"--checkpoints_dir={checkpoints}", f"--vendor_cwd={tmp_path}",
            f"--vendor_command={sys.executable} -c pass {{port}} {{checkpoint_dir}}"]
    with replicas(2, args, tmp_path) as (a, b), balancer([a.address, b.address], tmp_path / "nginx") as (port, log):

        def every_view() -> list[tuple[int, dict]]:
            # Four through the balancer: with no session open, least_conn takes turns, so both replicas answer.
            return [_get(p, "/api/v1/models") for p in (a.port, b.port, port, port, port, port)]

        assert every_view() == [(200, {"models": ["000100", "000200"]})] * 6
        (checkpoints / "000300").mkdir()  # a training run writes a new checkpoint: every replica sees it at once
        assert every_view() == [(200, {"models": ["000100", "000200", "000300"]})] * 6
        assert _get(port, "/api/v1/health") == (200, {"status": "ready"})

        shutil.rmtree(checkpoints)
        checkpoints.mkdir()
        # Neither replica can serve: nginx tries both (a 503 passes the request on) and answers the last 503.
        assert _get(port, "/api/v1/health") == (503, {"status": "error", "message": "no models to serve"})
    answered = {line.split("upstream=")[1].split()[0] for line in log.read_text().splitlines()
                if "GET /api/v1/models" in line}
    assert answered == {a.address, b.address}, "the balancer's log names which replica answered"


def _wait_until_each_holds_a_session(held_by, clients: list[subprocess.Popen]) -> None:
    """Until every replica in `held_by` has held a connection for a whole second (a session lasts seconds; a lone
    HTTP request would not hold that long), while every client process still runs."""
    deadline, held_since = time.monotonic() + 240, None
    while held_since is None or time.monotonic() - held_since < 1.0:
        assert time.monotonic() < deadline, "the clients never held a session on each replica"
        assert all(c.poll() is None for c in clients), [c.stderr.read() for c in clients if c.poll() is not None]
        held = all(established_connections(replica.port) for replica in held_by)
        held_since = (held_since or time.monotonic()) if held else None
        time.sleep(0.1)


def test_a_replica_killed_mid_episode_costs_the_run_on_it_that_episode_only(tmp_path):
    """Two `positronic-inference sim` runs through the balancer, one per replica; one replica dies mid-episode."""
    with replicas(2, ["--backend=hold_pose", "--preload=True"], tmp_path) as (a, b), \
            balancer([a.address, b.address], tmp_path / "nginx") as (port, _):
        outputs = [tmp_path / f"run{i}" for i in range(2)]
        runs = [subprocess.Popen(
            [str(Path(sys.executable).parent / "positronic-inference"), "sim", "--policy=.remote",
             "--policy.host=127.0.0.1", f"--policy.port={port}", f"--output_dir={out}", "--driver.num_iterations=2",
             "--driver.simulation_time=20", "--camera_width=96", "--camera_height=72"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for out in outputs]
        try:
            # Both first episodes under way, one on each replica. The runs go well ahead of real time: episodes of
            # 20 simulated seconds keep the kill inside the first one (the sweep test below lost that race).
            _wait_until_each_holds_a_session((a, b), runs)
            a.process.send_signal(signal.SIGKILL)
            results = []
            for run in runs:
                stdout, stderr = run.communicate(timeout=240)
                results.append((run.returncode, stdout, stderr))
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
                    run.communicate(timeout=30)
    failed = [i for i, (code, _, _) in enumerate(results) if code != 0]
    assert len(failed) == 1, results
    (lost,), (kept,) = failed, {0, 1} - set(failed)
    code, stdout, stderr = results[lost]
    assert code == 1 and "Traceback" not in stderr
    assert f"policy server at 127.0.0.1:{port} dropped the session during inference" in stderr
    assert "1 interrupted episode discarded" in stdout
    assert not outputs[lost].exists() or not list(Dataset(outputs[lost]))  # nothing half written
    # The other run never noticed: both its episodes recorded, the second one on the survivor.
    assert results[kept][0] == 0, results[kept][2]
    assert [episode.id for episode in Dataset(outputs[kept])] == [0, 1]


def test_a_replica_killed_mid_sweep_costs_nothing_its_episodes_run_again(tmp_path):
    out = tmp_path / "sweep"
    # Episodes of 120 simulated seconds (about 7 s of wall time on a fast machine): the sweep runs well ahead of
    # real time, and with 10 s ones it had ended before replica a was killed (1 CI run).
    with replicas(2, ["--backend=hold_pose", "--preload=True"], tmp_path) as (a, b), \
            balancer([a.address, b.address], tmp_path / "nginx") as (port, _):
        sweep = subprocess.Popen(
            [str(Path(sys.executable).parent / "positronic-eval"), "sweep", f"--server=127.0.0.1:{port}",
             f"--output_dir={out}", "--workers=2", "--episodes=4", "--seed=0", "--driver.simulation_time=120",
             "--camera_width=64", "--camera_height=48", "--cameras=image.wrist", "--resamples=200"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Two episodes under way, one on each replica (least_conn).
            _wait_until_each_holds_a_session((a, b), [sweep])
            a.process.send_signal(signal.SIGKILL)
            stdout, stderr = sweep.communicate(timeout=240)
        finally:
            if sweep.poll() is None:
                sweep.kill()
                sweep.communicate(timeout=30)
    assert sweep.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"policy server at 127.0.0.1:{port} dropped the session during inference" in stderr
    assert "; run again on a new session" in stderr
    assert "1 task run again after the server dropped its session: 1 seed " in stdout
    assert "4 of 4 planned episodes recorded" in stdout
    assert sorted(episode.static["sweep.seed"] for episode in Dataset(out / "1")) == [0, 1, 2, 3]
    assert not (out / "1" / ".partial").exists()
    assert all(layout.is_finished(path) for _, path in layout.episode_dirs(out / "1"))
