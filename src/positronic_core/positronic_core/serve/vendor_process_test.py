import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from processes import group_members, is_running, read_pid_file, wait_gone

from positronic_core.serve import vendor_process
from positronic_core.serve.vendor_process import (
    PROGRESS_EVERY_S,
    VendorProcess,
    VendorStartError,
    check_template,
    render_command,
)

STUB = Path(__file__).resolve().parents[4] / "test" / "support" / "vendor_stub.py"


def _tcp_probe(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


def _start(tmp_path, *flags, **kwargs) -> VendorProcess:
    template = shlex.join([sys.executable, str(STUB), "--port={port}", "--checkpoint_dir={checkpoint_dir}", *flags])
    return VendorProcess.start(template, checkpoint_dir=tmp_path, probe=_tcp_probe, progress=lambda m: None,
                               **kwargs)


@pytest.fixture(autouse=True)
def _nothing_left_running():
    yield
    leftover = vendor_process.running()
    vendor_process.stop_all()
    assert not leftover, "a test left vendor processes running"


def test_template_placeholders_are_required_and_filled(tmp_path):
    with pytest.raises(ValueError, match=r"\{port\}"):
        check_template("serve --dir {checkpoint_dir}")
    with pytest.raises(ValueError, match=r"\{checkpoint_dir\}"):
        check_template("serve --port {port}")
    with pytest.raises(ValueError, match="empty"):
        check_template("  ")
    with pytest.raises(ValueError, match="does not parse"):
        check_template("serve 'unclosed {port} {checkpoint_dir}")
    args = render_command("serve --port={port} --policy.dir '{checkpoint_dir}' --json '{\"a\": 1}'",
                          port=4321, checkpoint_dir=tmp_path / "a b")
    assert args == ["serve", "--port=4321", "--policy.dir", str(tmp_path / "a b"), "--json", '{"a": 1}']


def test_stop_ends_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "pids"
    vendor = _start(tmp_path, f"--pid_file={pid_file}", "--child")
    leader, child = read_pid_file(pid_file)
    assert leader == vendor.pid and vendor.alive()
    assert sorted(group_members(vendor.pgid)) == sorted([leader, child])
    assert vendor in vendor_process.running()
    vendor.stop()
    assert wait_gone([leader, child]) == []
    assert group_members(vendor.pgid) == []
    assert vendor not in vendor_process.running()
    vendor.stop()  # again: a no-op


def test_a_vendor_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    pid_file = tmp_path / "pids"
    vendor = _start(tmp_path, f"--pid_file={pid_file}", "--child", "--ignore_sigterm", stop_grace_s=0.5)
    pids = read_pid_file(pid_file)
    vendor.stop()
    assert wait_gone(pids) == []
    assert vendor.returncode == -9


def test_early_exit_is_reported_with_the_tail_of_its_output(tmp_path):
    with pytest.raises(VendorStartError) as raised:
        _start(tmp_path, "--exit_code=3", "--message=config pi05_nowhere not found")
    message = str(raised.value)
    assert "exited with code 3 before it answered" in message
    assert "config pi05_nowhere not found" in message
    assert "stub starting on port" in message  # stdout too: openpi's logs go to either
    assert vendor_process.running() == []


def test_a_vendor_that_never_answers_fails_after_the_timeout_and_is_stopped(tmp_path):
    pid_file = tmp_path / "pids"
    reports = []
    template = shlex.join([sys.executable, str(STUB), "--port={port}", f"--pid_file={pid_file}", "--child",
                           "--never_listen", "--checkpoint_dir={checkpoint_dir}"])
    # 5 s, not less: the stand-in must have started and written its pids before it is stopped, on a loaded machine.
    with pytest.raises(VendorStartError, match=r"did not answer on port \d+ within 5 s \(last probe: "
                                               r"ConnectionRefusedError"):
        VendorProcess.start(template, checkpoint_dir=tmp_path, probe=_tcp_probe, progress=reports.append,
                            timeout_s=5.0)
    assert wait_gone(read_pid_file(pid_file)) == []
    assert reports and "to come up" in reports[0]


def test_a_missing_executable_is_one_clear_error(tmp_path):
    with pytest.raises(VendorStartError, match="cannot start the vendor server `/nonexistent/serve"):
        VendorProcess.start("/nonexistent/serve --port {port} --dir {checkpoint_dir}", checkpoint_dir=tmp_path,
                            probe=_tcp_probe, progress=lambda m: None, timeout_s=1.0)


def test_the_vendor_runs_in_its_working_directory_with_the_filled_in_command(tmp_path):
    (tmp_path / "ckpt").mkdir()
    pid_file = tmp_path / "pids"
    template = shlex.join([sys.executable, "vendor_stub.py", "--port={port}", f"--pid_file={pid_file}",
                           "--checkpoint_dir={checkpoint_dir}"])
    vendor = VendorProcess.start(template, checkpoint_dir=tmp_path / "ckpt", cwd=STUB.parent, probe=_tcp_probe,
                                 progress=lambda m: None, timeout_s=30.0)
    with vendor:
        assert vendor.args[2] == f"--port={vendor.port}"
        assert _tcp_probe(vendor.port)
    assert wait_gone([vendor.pid]) == []


def test_progress_is_reported_on_schedule_until_the_probe_answers(tmp_path):
    vendor = _start(tmp_path)
    now = [0.0]
    answers = iter([False] * 20 + [True])
    reports = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with vendor:
        vendor.wait_ready(lambda port: next(answers), reports.append, timeout_s=60.0, poll_s=0.5,
                          clock=lambda: now[0], sleep=sleep)
    # 20 polls 0.5 s apart span 10 s: a report at 0 s and then every PROGRESS_EVERY_S.
    assert len(reports) == int(10.0 / PROGRESS_EVERY_S)
    assert reports[-1].endswith("8 s of 60 s")


def test_a_probe_that_raises_counts_as_not_yet_up(tmp_path):
    vendor = _start(tmp_path)
    now = [0.0]

    def probe(port: int) -> bool:
        raise OSError("connection reset")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with vendor, pytest.raises(VendorStartError, match=r"within 5 s \(last probe: OSError: connection reset\)"):
        vendor.wait_ready(probe, lambda m: None, timeout_s=5.0, clock=lambda: now[0], sleep=sleep)


def test_stop_all_stops_every_running_vendor(tmp_path):
    vendors = [_start(tmp_path), _start(tmp_path)]
    assert {v.port for v in vendors} == {v.port for v in vendors if v.alive()}
    vendor_process.stop_all()
    assert wait_gone([v.pid for v in vendors]) == []
    assert not any(is_running(v.pid) for v in vendors)


_SERVER = """
import shlex, socket, sys, time
from positronic_core.serve.vendor_process import VendorProcess

def probe(port):
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True

stub, pid_file, checkpoint_dir, grace, *flags = sys.argv[1:]
template = shlex.join([sys.executable, stub, "--port={port}", "--checkpoint_dir={checkpoint_dir}",
                       f"--pid_file={pid_file}", "--child", *flags])
VendorProcess.start(template, checkpoint_dir=checkpoint_dir, probe=probe, progress=lambda m: None,
                    stop_grace_s=float(grace))
print("up", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("flags", [(), ("--ignore_sigterm",)], ids=["stops-on-sigterm", "ignores-sigterm"])
def test_a_server_killed_outright_still_takes_its_vendor_with_it(tmp_path, flags):
    pid_file = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(Path(vendor_process.__file__).resolve().parents[2])}
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(STUB), str(pid_file), str(tmp_path), "0.5", *flags],
                              env=env, stdout=subprocess.PIPE)
    try:
        assert server.stdout.readline() == b"up\n"
        pids = read_pid_file(pid_file)
        assert all(is_running(pid) for pid in pids)
    finally:
        server.send_signal(signal.SIGKILL)  # no handler, no atexit: only the watchdog is left to act
        server.wait()
        server.stdout.close()
    left = wait_gone(pids, timeout_s=15.0)
    for pid in left:  # not to leave them behind when this fails
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_a_vendor_stopped_by_its_server_leaves_no_watchdog(tmp_path):
    vendor = _start(tmp_path)
    watchdog = vendor._watchdog.pid
    assert is_running(watchdog)
    vendor.stop()
    assert wait_gone([watchdog]) == []


def test_the_watchdog_leaves_by_itself_once_the_vendor_is_gone(tmp_path):
    vendor = _start(tmp_path)
    watchdog = vendor._watchdog.pid
    os.killpg(vendor.pgid, signal.SIGKILL)  # the vendor dies on its own; its server lives on
    assert vendor.wait_exit(10.0) == -9
    assert wait_gone([watchdog], timeout_s=10.0) == []
    vendor.stop()
