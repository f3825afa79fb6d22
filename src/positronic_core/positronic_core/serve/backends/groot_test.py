"""The GR00T backend against the stand-in GR00T server (test/support/groot_vendor_stub.py) as a real child process."""

import shlex
import sys
from pathlib import Path

import groot_vendor_stub
import numpy as np
import pytest
from processes import group_members, read_pid_file, running_with_argument, wait_gone
from tiny_act import make_observation

from positronic_core.codecs.groot import get_variant
from positronic_core.geometry import pose7_to_pose12
from positronic_core.models.errors import ModelLoadError
from positronic_core.robot.commands import CartesianPosition
from positronic_core.serve import vendor_process
from positronic_core.serve.backends.groot import default_vendor_command, groot_source
from positronic_core.serve.backends.groot_wire import GrootWireError
from positronic_core.serve.vendor_process import VendorStartError


def stand_in_command(variant: str, *flags: str) -> str:
    """The default vendor command's shape, with the stand-in in place of run_gr00t_server.py."""
    default = shlex.split(default_vendor_command(get_variant(variant)))
    assert default[:2] == ["/.venv/bin/python", "gr00t/eval/run_gr00t_server.py"]
    return shlex.join([sys.executable, groot_vendor_stub.__file__, *default[2:], *flags])


def _source(tmp_path: Path, variant: str, *flags: str, command: str | None = None, **kwargs):
    (tmp_path / "checkpoint-100").mkdir(exist_ok=True)
    return groot_source(tmp_path, get_variant(variant), command=command or stand_in_command(variant, *flags),
                        cwd=tmp_path, **kwargs)


def _load(tmp_path: Path, variant: str, *flags: str, **kwargs):
    messages: list[str] = []
    return _source(tmp_path, variant, *flags, **kwargs).load("100", messages.append), messages


@pytest.fixture(autouse=True)
def _nothing_left_running():
    yield
    leftover = vendor_process.running()
    vendor_process.stop_all()
    assert not leftover, "a test left GR00T servers running"


def test_checkpoints_are_gr00t_training_steps(tmp_path):
    for name in ("checkpoint-500", "checkpoint-20", "checkpoint-x", "runs"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-30").write_text("a file, not a checkpoint")
    source = _source(tmp_path, "ee")
    assert source.list_models() == ["20", "100", "500"]
    assert source.resolve(None) == "500" and source.registry.path("20") == tmp_path / "checkpoint-20"
    assert source.exclusive


def test_default_vendor_command_is_upstreams_invocation():
    command = default_vendor_command(get_variant("ee_rot6d_joints"))
    assert command == ("/.venv/bin/python gr00t/eval/run_gr00t_server.py --model_path {checkpoint_dir} "
                       "--embodiment_tag NEW_EMBODIMENT --modality_config_path "
                       "gr00t/configs/data/positronic_ee_rot6d_joints.py --host 127.0.0.1 --port {port}")
    vendor_process.check_template(command)  # both placeholders present


@pytest.mark.parametrize("variant", ["ee", "ee_rot6d_rel"])
def test_load_warms_up_then_serves_batches(tmp_path, variant):
    log = tmp_path / "requests.log"
    model, messages = _load(tmp_path, variant, "--horizon=3", f"--log_file={log}")
    try:
        # Ready means the whole path ran once: ping until up, one warm-up inference, then a reset.
        assert log.read_text().split()[-2:] == ["get_action", "reset"]
        assert any("warming up" in m for m in messages)
        assert model.alive and model.meta["type"] == "groot" and model.meta["groot_variant"] == variant
        observations = [make_observation(seed) for seed in range(3)]
        chunks = model.infer_batch(observations)
        assert [len(chunk) for chunk in chunks] == [3, 3, 3]
        for observation, chunk in zip(observations, chunks, strict=True):
            expected = pose7_to_pose12(observation["robot_state.ee_pose"])
            last = chunk[-1]
            assert isinstance(last.command, CartesianPosition) and last.timestamp == pytest.approx(2 / 15)
            np.testing.assert_allclose(last.command.translation, expected[:3] + [0.03, 0, 0], atol=1e-6)
            np.testing.assert_allclose(last.command.rotation, expected[3:].reshape(3, 3), atol=1e-5)
            assert last.target_grip == pytest.approx(1 - observation["grip"], abs=1e-6)
    finally:
        model.close()


def test_a_vendor_that_dies_mid_episode_fails_the_request_at_once_and_reports_dead(tmp_path):
    # The warm-up is action 1; the episode's first request is answered, its second kills the server.
    model, _ = _load(tmp_path, "ee", "--die_after_actions=2", request_timeout_s=600.0)
    try:
        assert len(model.infer_batch([make_observation(0)])) == 1
        with pytest.raises(GrootWireError, match="the GR00T server exited with code 3; the next session starts it"):
            model.infer_batch([make_observation(1)])  # a 600 s timeout: only the liveness check ends this
        assert not model.alive
    finally:
        model.close()


def test_a_vendor_that_never_comes_up_is_a_clear_error_after_the_bound(tmp_path):
    with pytest.raises(VendorStartError, match=r"GR00T server did not answer on port \d+ within 1\.5 s"):
        _load(tmp_path, "ee", "--never_ready", start_timeout_s=1.5)
    assert running_with_argument(str(tmp_path)) == []  # the stand-in got our checkpoint dir as --model_path


def test_a_checkpoint_the_vendor_rejects_at_warm_up_is_a_load_error(tmp_path):
    # The stand-in for `ee` expects a 7-value pose; told it serves a rot6d checkpoint, it refuses our 9 values.
    command = stand_in_command("ee_rot6d").replace("positronic_ee_rot6d.py", "positronic_ee.py")
    source = _source(tmp_path, "ee_rot6d", command=command)
    with pytest.raises(ModelLoadError, match="warm-up inference failed: .*must be \\(1, 1, 7\\), got \\(1, 1, 9\\)"):
        source.load("100", lambda m: None)
    assert vendor_process.running() == []


def test_close_stops_the_vendor_and_its_children(tmp_path):
    pid_file = tmp_path / "pids"
    model, _ = _load(tmp_path, "ee", f"--pid_file={pid_file}", "--spawn_child")
    pids = read_pid_file(pid_file)
    assert len(pids) == 2 and sorted(group_members(model.process.pgid)) == sorted(pids)
    model.close()
    assert wait_gone(pids) == []
    assert not model.alive
