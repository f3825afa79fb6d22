"""Real ACT checkpoints driving the simulator, as a user runs them: in-process, and through a policy server."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tiny_act import make_tiny_act_checkpoint

from positronic_core.dataset.reader import Dataset

BIN = Path(sys.executable).parent
FAST = ["--camera_width=96", "--camera_height=72", "--driver.simulation_time=1"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    make_tiny_act_checkpoint(root, step=1000, seed=1)
    make_tiny_act_checkpoint(root, step=2000, seed=2)
    return root


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_act_policy_from_the_command_line(checkpoints, tmp_path):
    out = tmp_path / "rec"
    result = subprocess.run(
        [str(BIN / "positronic-inference"), "sim", "--policy=@positronic_core.cfg.policy.act_absolute",
         f"--policy.base.checkpoints_dir={checkpoints}", "--policy.base.checkpoint=1000", f"--output_dir={out}",
         *FAST], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    static = Dataset(out)[0].static
    assert static["inference.policy.type"] == "act"
    assert static["inference.policy.checkpoint_id"] == "001000"
    assert static["inference.policy.codec"] == "ee"


def test_local_act_with_a_missing_checkpoint_fails_before_the_run(checkpoints, tmp_path):
    result = subprocess.run(
        [str(BIN / "positronic-inference"), "sim", "--policy=@positronic_core.cfg.policy.act_absolute",
         f"--policy.base.checkpoints_dir={checkpoints}", "--policy.base.checkpoint=7", f"--output_dir={tmp_path}/r",
         *FAST], capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert "--policy" in result.stderr and "001000" in result.stderr and "002000" in result.stderr
    assert not (tmp_path / "r").exists()


def test_remote_act_through_the_policy_server(checkpoints, tmp_path):
    port = _free_port()
    server = subprocess.Popen([str(BIN / "positronic-policy-server"), f"--checkpoints_dir={checkpoints}",
                               "--codec=ee", f"--port={port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/models", timeout=1) as response:
                    assert json.load(response) == {"models": ["001000", "002000"]}
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        out = tmp_path / "rec"
        for model in ("1000", None):
            flags = [f"--policy.model_id={model}"] if model else []
            result = subprocess.run(
                [str(BIN / "positronic-inference"), "sim", "--policy=.remote", "--policy.host=127.0.0.1",
                 f"--policy.port={port}", *flags, f"--output_dir={out}", *FAST],
                capture_output=True, text=True, timeout=600)
            assert result.returncode == 0, result.stderr[-3000:]
        first, second = Dataset(out)
        assert first.static["inference.policy.type"] == "remote"
        assert first.static["inference.policy.server.checkpoint_id"] == "001000"
        assert first.static["inference.policy.server.type"] == "act"
        assert second.static["inference.policy.server.checkpoint_id"] == "002000"  # default = latest
        assert len(first.signal("robot_commands.pose").timestamps) > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
