"""docker/compose.yaml and its Dockerfiles against the real server: no Docker engine runs here, so the compose file is
parsed and every service's entry point, with the README's `docker compose run` arguments, is checked against
`positronic-policy-server`'s real flags and command line; the LeRobot one is run outside Docker as the container
runs it. The replicated `policy-server` and its nginx `balancer` are checked the same way (the balancer's nginx
itself runs on loopback in test_load_balancer.py)."""

import inspect
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from positronic_core.cli import policy_server

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = {"lerobot-server": "lerobot", "groot-server": "groot", "openpi-server": "openpi"}
#: docker compose up --scale policy-server=N balancer
REPLICATED = {"policy-server", "balancer"}
SERVER_FLAGS = set(inspect.signature(policy_server.serve).parameters)
BIN = Path(sys.executable).parent
STUCK_S = 120


def _readme_commands() -> dict[str, list[str]]:
    """service -> the arguments the README's "Serving models" section passes to `docker compose run`."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    commands = {}
    for line in text.splitlines():
        if "docker compose run" in line:
            words = shlex.split(line.partition("docker compose run")[2], comments=True)
            while words[0].startswith("-"):  # compose's own options, before the service
                words.pop(0)
            service, *args = words
            commands.setdefault(service, args)  # the first, the Inference Guide's; later ones show variations
    return commands


README_COMMANDS = _readme_commands()


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}` and `${VAR:-default}` (defaults may nest), enough for this file."""
    while (match := re.search(r"\$\{(\w+)(?::-((?:[^{}]|\{[^{}]*\})*))?\}", value)):
        name, default = match.group(1), match.group(2)
        replacement = env.get(name) or (default if default is not None else "")
        value = value[:match.start()] + replacement + value[match.end():]
    return value


def _dockerfile_entrypoint(service: str) -> list[str]:
    build = COMPOSE["services"][service]["build"]
    dockerfile = (DOCKER / build["context"] / build["dockerfile"]).resolve()
    lines = [line for line in dockerfile.read_text().splitlines() if line.startswith("ENTRYPOINT ")]
    assert len(lines) == 1, f"{dockerfile} needs exactly one ENTRYPOINT"
    return json.loads(lines[0].removeprefix("ENTRYPOINT "))


def _flags(args: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in args if arg.startswith("--"))


def test_the_three_services_of_the_inference_guide_each_in_the_readme():
    # The robot side's `ros` service is checked by test_docker_ros.py.
    assert set(COMPOSE["services"]) - {"ros"} - REPLICATED == set(SERVICES)
    assert set(README_COMMANDS) - {"ros"} == set(SERVICES)
    assert README_COMMANDS["groot-server"][0] == "ee_rot6d_joints"  # the variant, positional, as the guide writes it


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_entry_point_is_our_server_with_the_matching_backend_in_compose_and_dockerfile(service):
    entrypoint = COMPOSE["services"][service]["entrypoint"]
    assert entrypoint == _dockerfile_entrypoint(service)
    assert entrypoint[0] == "positronic-policy-server"
    flags = _flags(entrypoint[1:])
    assert flags["backend"] == SERVICES[service] and flags["host"] == "0.0.0.0"
    assert set(flags) <= SERVER_FLAGS, f"not flags of positronic-policy-server: {set(flags) - SERVER_FLAGS}"
    assert set(_flags(README_COMMANDS[service])) <= SERVER_FLAGS


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_gpu_port_token_and_mounts(service):
    spec = COMPOSE["services"][service]
    (device,) = spec["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert spec["environment"]["POSITRONIC_AUTH_TOKEN"] == "${POSITRONIC_AUTH_TOKEN:-}"
    host_env = {"HOME": "/home/alice"}
    ports = [_interpolate(port, host_env).split(":") for port in spec["ports"]]
    assert ["8000", "8000"] in [port[1:] for port in ports]  # protocol v1
    assert ["8001", "8001"] in [port[1:] for port in ports]  # for --openpi_port=8001
    if "--insecure=True" in spec["entrypoint"]:
        # What makes running without a token acceptable: only the host itself reaches the ports by default.
        assert {port[0] for port in ports} == {"127.0.0.1"}
        assert all(_interpolate(port, {**host_env, "POSITRONIC_PUBLISH": "0.0.0.0"}).startswith("0.0.0.0:")
                   for port in spec["ports"])
    # `~/checkpoints/...` reaches the server unexpanded (bash does not expand `~` after `=` in an argument) and the
    # server expands it with the container's HOME: that path must be the host's, and mounted.
    container_home = _interpolate(spec["environment"]["HOME"], host_env)
    mounts = [_interpolate(volume, host_env).split(":") for volume in spec["volumes"]]
    checkpoints = next(m for m in mounts if m[1].endswith("/checkpoints"))
    assert checkpoints == ["/home/alice/checkpoints", "/home/alice/checkpoints", "ro"]
    seed_dir = _flags(README_COMMANDS[service])["checkpoints_dir"]
    inside = seed_dir.replace("~", container_home, 1)
    assert inside.startswith(checkpoints[1] + "/")
    assert any(target == f"{container_home}/.cache" for _, target, *_ in mounts)  # the cache


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_readme_command_is_accepted_by_the_real_command_line(service):
    argv = [*COMPOSE["services"][service]["entrypoint"], *README_COMMANDS[service], "--help"]
    done = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=STUCK_S)
    assert done.returncode == 0, done.stderr
    assert "--checkpoints_dir" in done.stdout


def test_lerobot_service_runs_outside_docker_and_answers_the_curl_check(tmp_path):
    """The README's lerobot command, as the container runs it: HOME is where `~/checkpoints/...` resolves."""
    tiny_act = pytest.importorskip("tiny_act", reason="test/support/tiny_act.py (tiny ACT checkpoints) is missing")
    pytest.importorskip("lerobot", reason="LeRobot is not installed (make test installs it)")
    args = README_COMMANDS["lerobot-server"]
    checkpoints_dir = Path(_flags(args)["checkpoints_dir"].replace("~", str(tmp_path), 1))
    tiny_act.make_tiny_act_checkpoint(checkpoints_dir, step=1000)
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("POSITRONIC_AUTH_TOKEN", None)
    # Port 0 instead of the container's 8000, which this shared machine may have in use.
    argv = [*COMPOSE["services"]["lerobot-server"]["entrypoint"], *args, "--port=0"]
    server = subprocess.Popen([str(BIN / argv[0]), *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line, server.stderr.read()[-3000:]
        port = int(re.search(r"0\.0\.0\.0:(\d+)/api/v1/models", line)[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/models", timeout=STUCK_S) as response:
            assert json.load(response) == {"models": ["001000"]}
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=STUCK_S)
    assert server.returncode == 0


def test_docker_compose_config_accepts_the_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no `docker compose` here (the docker CLI lacks the compose plugin, or there is no docker)")
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "--format", "json"],
                          capture_output=True, text=True, env=env, timeout=STUCK_S)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    for service, backend in SERVICES.items():
        assert f"--backend={backend}" in config["services"][service]["entrypoint"]


def _replica_command(family_service: str) -> list[str]:
    """The replicas' arguments, with POSITRONIC_SERVER_ARGS set to the README's for that family's service."""
    args = shlex.join(README_COMMANDS[family_service])
    # Compose splits a string `command` into words as a shell would (no expansion: `~` stays for the server).
    return shlex.split(_interpolate(COMPOSE["services"]["policy-server"]["command"], {"POSITRONIC_SERVER_ARGS": args}))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_replicas_run_a_family_image_as_its_service_does_and_publish_no_port(service):
    replica, single = COMPOSE["services"]["policy-server"], COMPOSE["services"][service]
    family = {"POSITRONIC_FAMILY": SERVICES[service]}
    assert _interpolate(replica["image"], family) == single["image"]
    assert _interpolate(replica["build"]["dockerfile"], family) == single["build"]["dockerfile"]
    assert "entrypoint" not in replica  # the image's, i.e. the family's (checked against compose above)
    # The same checkpoints and cache mounts, environment and GPU as the single server: every replica lists the same
    # models. Only the balancer publishes a port.
    assert (replica["volumes"], replica["environment"], replica["deploy"]) == (
        single["volumes"], single["environment"], single["deploy"])
    assert replica["ports"] == []
    command = _replica_command(service)
    assert "--preload=True" in command  # healthy once the default model is in memory
    assert set(_flags(command)) <= SERVER_FLAGS
    argv = [*single["entrypoint"], *command, "--help"]
    done = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=STUCK_S)
    assert done.returncode == 0, done.stderr


def test_replica_healthcheck_passes_on_a_ready_server_only(tmp_path):
    """The compose healthcheck's own command, run against real servers (the container's port 8000 becomes theirs)."""
    from positronic_core.models.checkpoints import CheckpointRegistry
    from positronic_core.serve.backends.hold_pose import HoldPoseModel, HoldPoseSource
    from positronic_core.serve.checkpoint_source import CheckpointSource
    from positronic_core.serve.server import running_server

    kind, program, *args = COMPOSE["services"]["policy-server"]["healthcheck"]["test"]
    assert (kind, program) == ("CMD", "python")

    def check(port: int) -> int:
        argv = [sys.executable, *(a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in args)]
        assert argv[1:] != args, "the healthcheck no longer asks port 8000"
        return subprocess.run(argv, capture_output=True, timeout=STUCK_S).returncode

    with running_server(HoldPoseSource()) as ready:
        port = ready.port
        assert check(port) == 0
    empty = CheckpointSource(CheckpointRegistry(tmp_path), lambda path, progress: HoldPoseModel())
    with running_server(empty) as unready:  # health 503: no model to serve
        assert check(unready.port) != 0
    assert check(port) != 0  # nothing listens there any more


def test_balancer_renders_the_shipped_template_in_front_of_the_replicas():
    balancer = COMPOSE["services"]["balancer"]
    assert balancer["image"].startswith("nginx:")  # the official image, whose entry point renders templates
    env = balancer["environment"]
    template = DOCKER / "nginx" / "nginx.conf.template"
    mounts = [volume.split(":") for volume in balancer["volumes"]]
    assert [str((DOCKER / m[0]).resolve()) for m in mounts] == [str(template)]
    # /etc/nginx/templates/X.template renders to $NGINX_ENVSUBST_OUTPUT_DIR/X: nginx's own configuration file.
    assert mounts[0][1] == "/etc/nginx/templates/nginx.conf.template"
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert set(re.findall(r"\$\{(\w+)\}", template.read_text())) <= set(env)
    # The upstream is the replicas' service on the server's port; nginx listens where the port is published.
    host, port = env["POSITRONIC_POLICY_SERVER"].split(":")
    assert host == "policy-server" and int(port) == inspect.signature(policy_server.serve).parameters["port"].default
    assert "--port" not in str(COMPOSE["services"]["policy-server"]["command"])
    (published,) = balancer["ports"]
    address, _, container_port = _interpolate(published, {}).split(":")
    assert address == "127.0.0.1" and container_port == env["POSITRONIC_BALANCER_LISTEN"]
    assert balancer["depends_on"] == {"policy-server": {"condition": "service_healthy"}}


def test_readme_says_how_to_run_replicas_and_where_the_balancer_listens():
    text = (ROOT / "README.md").read_text()
    assert "docker compose up --scale policy-server=" in text and "balancer" in text
