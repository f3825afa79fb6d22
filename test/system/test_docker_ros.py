"""docker/ros/Dockerfile and the `ros` service of docker/compose.yaml, validated as files (no Docker engine runs
here): the image's base and packages provide everything `positronic-inference real` checks for, franka_ros2 and
libfranka are at the versions the issue asks for, the build context lets in what the Dockerfile copies, the entry
point matches, and every documented `docker compose run ... ros` command is accepted by our real command line or
by real.launch.py's real arguments."""

import ast
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from positronic_core.cli import inference, real_arm
from positronic_core.cli.runner import build

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "ros" / "Dockerfile"
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
SERVICE = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["ros"]
TEXT = DOCKERFILE.read_text()
#: Packages REQUIRED_PACKAGES names that come inside an apt metapackage rather than under their own name.
IN_METAPACKAGE = {"controller_manager": "ros-jazzy-ros2-control",
                  "joint_state_broadcaster": "ros-jazzy-ros2-controllers",
                  "joint_trajectory_controller": "ros-jazzy-ros2-controllers"}
FRANKA_BUILT = {"franka_description", "franka_gripper", "franka_hardware", "franka_robot_state_broadcaster"}


def _instructions(name):
    """Each `name` instruction of the Dockerfile with its continuation lines joined."""
    joined = TEXT.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(f"{name} ")]


def _apt_packages():
    packages = set()
    for run in _instructions("RUN"):
        for install in re.findall(r"apt-get install ([^&]*)", run):
            packages |= {word for word in install.split() if not word.startswith("-")}
    return packages


def _arg(name):
    (value,) = [a.split("=", 1)[1] for a in _instructions("ARG") if a.startswith(f"{name}=")]
    return value


def _launch_arguments():
    """real.launch.py's ARGUMENTS, read from its source (importing it needs ROS 2's launch package)."""
    tree = ast.parse((ROOT / "launch" / "real.launch.py").read_text())
    (node,) = [n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ARGUMENTS"]
    return ast.literal_eval(node.value)


def _documented_commands():
    """Every `docker compose run ... ros ...` command in compose.yaml's comments and the README, as argv lists."""
    commands = []
    for path in (COMPOSE_FILE, ROOT / "README.md"):
        lines = path.read_text().splitlines()
        if path.suffix == ".yaml":  # the commands are in comments, continued over several comment lines
            lines = [line.strip().removeprefix("#").strip() for line in lines]
        for line in "\n".join(lines).replace("\\\n", " ").splitlines():
            if "docker compose run" not in line:
                continue
            words = shlex.split(line.partition("docker compose run")[2].split("`")[0])
            while words and words[0].startswith("-"):
                words.pop(0)
            if words and words[0] == "ros":
                commands.append(words[1:])
    return commands


def test_the_image_is_jazzy_with_the_control_packages_from_apt():
    (base,) = _instructions("FROM")
    assert base.strip() == "ros:jazzy"
    apt = _apt_packages()
    assert {"ros-jazzy-ros2-control", "ros-jazzy-ros2-controllers", "ros-jazzy-mujoco-ros2-control"} <= apt


def test_franka_ros2_and_libfranka_are_built_at_the_versions_asked_for():
    assert _arg("FRANKA_ROS2_VERSION").startswith("v3.4.")
    assert tuple(map(int, _arg("LIBFRANKA_VERSION").split("."))) >= (0, 20, 4)
    build_line = next(run for run in _instructions("RUN") if "--packages-up-to" in run)
    built = set(build_line.split("--packages-up-to", 1)[1].split("--", 1)[0].split())
    assert built == FRANKA_BUILT


def test_every_package_the_real_command_checks_for_is_in_the_image():
    apt = _apt_packages()
    ours = {path.parent.name for path in (ROOT / "src").glob("*/package.xml")}
    for package in real_arm.REQUIRED_PACKAGES:
        provided = (package in ours or package in FRANKA_BUILT or f"ros-jazzy-{package.replace('_', '-')}" in apt
                    or IN_METAPACKAGE.get(package) in apt)
        assert provided, f"{package} is not installed in the image"


def test_the_build_context_lets_in_what_the_dockerfile_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    for copy in _instructions("COPY"):
        source = copy.split()[0]
        inside = source in allowed or any(source.startswith(a + "/") or a.startswith(source + "/") for a in allowed)
        assert inside and (ROOT / source).exists(), source
    # Every colcon package of the workspace reaches the image's `colcon build`.
    for package in (ROOT / "src").glob("*/package.xml"):
        assert f"src/{package.parent.name}" in allowed, package.parent.name


def test_compose_entry_point_and_command_match_the_dockerfile():
    assert SERVICE["build"] == {"context": "..", "dockerfile": "docker/ros/Dockerfile"}
    (entrypoint,) = _instructions("ENTRYPOINT")
    (command,) = _instructions("CMD")
    assert SERVICE["entrypoint"] == json.loads(entrypoint)
    assert SERVICE["command"] == json.loads(command)
    script = (ROOT / "docker" / "ros" / "entrypoint.sh").read_text().splitlines()
    sourced = [line.split()[1] for line in script if line.startswith("source ")]
    assert sourced == ["/opt/ros/jazzy/setup.bash", "/opt/franka_ws/install/setup.bash",
                       "/opt/positronic/install/setup.bash"]
    assert script[-1] == 'exec "$@"'
    assert "/opt/franka_ws/install" in TEXT and "/opt/positronic/install" in TEXT
    assert SERVICE["network_mode"] == "host"  # DDS discovery and libfranka's UDP stream


def test_documented_commands_are_accepted_by_the_real_command_line_and_launch_file():
    commands = _documented_commands()
    assert any(c[:2] == ["positronic-inference", "real"] for c in commands)
    assert any(c[:2] == ["ros2", "launch"] for c in commands)
    arguments = {name for name, _, _ in _launch_arguments()}
    for command in commands:
        if command[:2] == ["positronic-inference", "real"]:
            build(inference.COMMANDS["real"], command[2:])  # a bad flag raises FlagError, naming it
            assert "--output_dir" in " ".join(command) and command[-1].split("=", 1)[1].startswith("/data/")
        elif command[:2] == ["ros2", "launch"]:
            assert command[2:4] == ["positronic_bringup", "real.launch.py"]
            unknown = {arg.split(":=", 1)[0] for arg in command[4:]} - arguments
            assert not unknown, f"not arguments of real.launch.py: {unknown}"
        else:
            pytest.fail(f"unexpected documented command {command}")
