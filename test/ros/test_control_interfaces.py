"""Our ros2_control configuration against the installed packages' real interfaces: every controller type is a
declared controller plugin, every parameter one its controller defines (generate_parameter_library's generated
definitions), the joints and interfaces are the description's, and the names, parameters and topics our launch
files and nodes use are the ones the libraries contain. Needs the ros2_control overlay sourced (its packages on
AMENT_PREFIX_PATH, as the Makefile's ROS environment does where /opt/ros/jazzy-control exists); reads its files,
starts nothing."""

import os
import re
import runpy
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from positronic_core.sim import control_scene

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
#: Where each controller type's parameters are defined: its package's generated parameter header (the position
#: controllers are forward command controllers and take their parameters).
PARAMETERS = {
    "joint_state_broadcaster/JointStateBroadcaster": "joint_state_broadcaster/joint_state_broadcaster_parameters.hpp",
    "joint_trajectory_controller/JointTrajectoryController":
        "joint_trajectory_controller/joint_trajectory_controller_parameters.hpp",
    "position_controllers/JointGroupPositionController":
        "forward_command_controller/forward_command_controller_parameters.hpp",
}
#: Parameters every controller takes from controller_interface itself, not from its own definitions.
COMMON = {"type", "update_rate"}


def _overlay() -> Path:
    for prefix in [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":") if p]:
        if (Path(prefix) / "share" / "joint_trajectory_controller").is_dir():
            return Path(prefix)
    pytest.skip("needs the ros2_control overlay (ros2_controllers, mujoco_ros2_control, franka_description) "
                "sourced: none of its packages is on AMENT_PREFIX_PATH")


@pytest.fixture(scope="module")
def overlay():
    return _overlay()


def _flatten(params: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in params.items():
        names |= _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return names


def _plugin_classes(overlay: Path, base: str) -> set[str]:
    classes = set()
    for xml in (overlay / "share").glob("*/*.xml"):
        if xml.name == "package.xml":
            continue
        try:
            root = ET.parse(xml).getroot()
        except ET.ParseError:
            continue
        classes |= {c.get("name") for c in root.iter("class") if c.get("base_class_type") == base}
    return classes


def _library_strings(overlay: Path, name: str) -> bytes:
    return (overlay / "lib" / f"lib{name}.so").read_bytes()


def _controllers() -> dict:
    return yaml.safe_load((CONFIG / "controllers.yaml").read_text())


def _description(overlay, tmp_path) -> ET.Element:
    env = {**os.environ, "AMENT_PREFIX_PATH": f"{overlay}:{os.environ.get('AMENT_PREFIX_PATH', '')}"}
    urdf = subprocess.run([str(overlay / "bin" / "xacro"), str(CONFIG / "fr3_mujoco.urdf.xacro"),
                           f"mujoco_model:={tmp_path / 'scene.xml'}"], env=env, capture_output=True, text=True,
                          check=True).stdout
    return ET.fromstring(urdf)


def test_each_controller_is_a_declared_plugin_with_only_parameters_it_defines(overlay):
    declared = _plugin_classes(overlay, "controller_interface::ControllerInterface")
    controllers = {name: spec["ros__parameters"] for name, spec in _controllers().items()
                   if name != "controller_manager"}
    for name, params in controllers.items():
        assert params["type"] in declared, f"{name}: no installed controller plugin {params['type']}"
        header = (overlay / "include" / PARAMETERS[params["type"]]).read_text()
        defined = set(re.findall(r'prefix_ \+ "([A-Za-z0-9_.]+)"', header))
        unknown = _flatten(params) - COMMON - defined
        assert not unknown, f"{name}: {params['type']} defines no parameter(s) {sorted(unknown)}"
    launch = runpy.run_path(str(ROOT / "launch" / "sim.launch.py"))
    assert sorted(launch["CONTROLLERS"]) == sorted(controllers)


def test_controllers_command_the_descriptions_joints_through_interfaces_it_offers(overlay, tmp_path):
    robot = _description(overlay, tmp_path)
    urdf_joints = {j.get("name") for j in robot.findall("joint")}
    hardware = robot.find("ros2_control")
    offered = {j.get("name"): ({c.get("name") for c in j.findall("command_interface")},
                               {s.get("name") for s in j.findall("state_interface")})
               for j in hardware.findall("joint")}
    assert set(offered) <= urdf_joints
    controllers = _controllers()
    arm = controllers["arm_controller"]["ros__parameters"]
    assert arm["joints"] == control_scene.JOINTS
    for joint in arm["joints"]:
        assert set(arm["command_interfaces"]) <= offered[joint][0] and set(arm["state_interfaces"]) <= offered[joint][1]
    gripper = controllers["gripper_controller"]["ros__parameters"]
    assert gripper["joints"] == [control_scene.GRIPPER_JOINT] and "position" in offered[control_scene.GRIPPER_JOINT][0]
    # The MJCF drives exactly these joints (control_scene's own test checks its actuators).
    assert set(offered) == {*control_scene.JOINTS, control_scene.GRIPPER_JOINT}

    plugin = hardware.find("hardware/plugin").text
    assert plugin in _plugin_classes(overlay, "hardware_interface::SystemInterface")
    library = _library_strings(overlay, "mujoco_ros2_control")
    for param in hardware.findall("hardware/param"):
        name = param.get("name")
        assert b"\0" + name.encode() + b"\0" in library, f"mujoco_ros2_control reads no parameter {name}"


def test_the_topics_and_services_our_nodes_use_are_the_packages_own(overlay):
    policy = yaml.safe_load((CONFIG / "ros2_control.yaml").read_text())["policy_node"]["ros__parameters"]
    controllers = _controllers()
    # A joint_trajectory_controller listens on ~/joint_trajectory, a forward command controller on ~/commands.
    assert b"\0~/joint_trajectory\0" in _library_strings(overlay, "joint_trajectory_controller")
    assert b"\0~/commands\0" in _library_strings(overlay, "forward_command_controller")
    assert policy["trajectory_topic"] == "/arm_controller/joint_trajectory" and "arm_controller" in controllers
    assert policy["gripper_topic"] == "/gripper_controller/commands" and "gripper_controller" in controllers
    assert policy["joint_names"] == controllers["arm_controller"]["ros__parameters"]["joints"]

    # scene_mirror_node: every joint on /mujoco_actuators_states, the world reset of the node the launch starts,
    # and the cubes from the free-joint plugin keyed `sim` (it publishes on <key>/free_joint_states).
    library = _library_strings(overlay, "mujoco_ros2_control")
    for name in (b"/mujoco_actuators_states", b"~/reset_world", b"mujoco_ros2_control_node"):
        assert b"\0" + name + b"\0" in library, name
    plugins = yaml.safe_load((CONFIG / "mujoco_sim.yaml").read_text())["/**"]["ros__parameters"]["mujoco_plugins"]
    declared = _plugin_classes(overlay, "mujoco_ros2_control_plugins::MuJoCoROS2ControlPluginBase")
    assert plugins["sim"]["type"] in declared
    assert b"\0free_joint_states\0" in _library_strings(overlay, "mujoco_ros2_control_plugins_impl")
