"""`positronic-policy-server` refuses what it cannot serve before it listens: one line, non-zero exit."""

import socket
import subprocess
import sys
import textwrap

import pytest

# Runs the command with torch and LeRobot unimportable, as in the `make sim` environment, whether or not this venv
# has them: a finder ahead of all others refuses both packages.
WITHOUT_TORCH = textwrap.dedent("""
    import sys

    class Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("torch", "lerobot"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled())
""")
SERVE = textwrap.dedent("""
    import sys

    sys.argv[0] = "positronic-policy-server"
    from positronic_core.cli.policy_server import main
    main()
""")

# Generous: a server that failed to refuse listens forever, and this turns that into a failure.
STUCK_S = 120


def _run(code: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *flags], capture_output=True, text=True, timeout=STUCK_S)


def test_lerobot_backend_without_torch_refuses_at_start(tmp_path):
    (tmp_path / "checkpoints" / "001000" / "pretrained_model").mkdir(parents=True)
    done = _run(WITHOUT_TORCH + SERVE, f"--checkpoints_dir={tmp_path}", "--port=0")
    assert done.returncode != 0
    assert done.stdout == ""  # never listed models, never listened
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "No module named 'torch'" in lines[0]
    assert "make test" in lines[0] and "pip install" in lines[0]


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_port_in_use_is_one_line_naming_the_port(taken_port):
    done = _run(SERVE, "--backend=hold_pose", f"--port={taken_port}")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{taken_port}" in lines[0] and "already in use" in lines[0] and "--port" in lines[0]


def test_help_documents_the_backends_and_vendor_flags():
    done = _run(SERVE, "--help")
    assert done.returncode == 0
    for text in ("--backend=lerobot", "`openpi`", "`groot`", "`hold_pose`", "--vendor_command=CMD", "{port}",
                 "{checkpoint_dir}", "--vendor_cwd=DIR", "--vendor_timeout_s", "VARIANT", "ee_rot6d_joints",
                 "@positronic.vendors.openpi.codecs.ee"):
        assert text in done.stdout, text


def test_a_bare_word_is_the_variant_and_upstream_codec_paths_stay_names():
    from positronic_core.cli.policy_server import command_line

    assert command_line(["--backend=groot", "ee_rot6d_joints", "--checkpoints_dir=/c"]) == [
        "--variant=ee_rot6d_joints", "--backend=groot", "--checkpoints_dir=/c"]
    assert command_line(["--codec=@positronic.vendors.openpi.codecs.ee"]) == [
        "--codec=@@positronic.vendors.openpi.codecs.ee"]
