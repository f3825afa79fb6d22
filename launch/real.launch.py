"""A real Franka FR3 through ros2_control (franka_ros2), with the policy, episode driver and recorder.

    ros2 launch positronic_bringup real.launch.py robot_ip:=172.16.0.2 host:=gpu-box \\
        cameras:=wrist=/wrist_cam/color/image_raw,exterior=/ext_cam/color/image_raw
    ros2 launch positronic_bringup real.launch.py use_fake_hardware:=true      # no robot: ros2_control mock
    ros2 service call /episode/start positronic_interfaces/srv/StartEpisode "{task: 'stack the cubes'}"
    ros2 service call /policy/hold std_srvs/srv/Trigger      # freeze the arm; /policy/resume releases it

The robot part is franka_ros2's bringup (franka_bringup's franka.launch.py, composed here from the same pieces since
not every install has franka_bringup): franka_description's FR3 xacro with `ros2_control:=true` (franka_hardware
on the robot, mock_components with use_fake_hardware:=true), robot_state_publisher, controller_manager's
ros2_control_node with config/controllers.yaml (the simulator's ros2_control path uses the same file), spawners for
joint_state_broadcaster, arm_controller (a joint_trajectory_controller) and, on the robot,
franka_robot_state_broadcaster, and franka_gripper (on the robot; with fake hardware gripper_node is the mock
gripper; the Franka Hand is not a ros2_control joint, so the simulator's gripper_controller is not started).
Unlike franka_bringup, joint_state_broadcaster publishes /joint_states itself (the gripper's finger joints stay on
/franka_gripper/joint_states): nothing here needs the fingers in TF.

Ours on top: policy_node (one JointTrajectory per chunk to arm_controller, limited by config/fr3_safety.yaml), the
episode driver, the recorder, gripper_node (/gripper/command and /gripper/state over franka_gripper) and
ee_pose_node (/ee_pose from TF). Cameras are any sensor_msgs/Image publishers, started by you, named in `cameras`.

`ros2 launch positronic_bringup real.launch.py --show-args` describes every argument.
"""

import yaml
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction, Shutdown
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from positronic_ros.controller_spawner import controller_spawner

#: The trajectory controller of config/controllers.yaml, which the policy node sends each chunk to.
TRAJECTORY_CONTROLLER = "arm_controller"
#: Controllers started: the arm's, and on the robot franka_ros2's state broadcaster (not in controllers.yaml, which
#: the simulator shares; its type is given to the controller manager here).
CONTROLLERS = ["joint_state_broadcaster", TRAJECTORY_CONTROLLER]
FRANKA_STATE_BROADCASTER = ("franka_robot_state_broadcaster",
                            "franka_robot_state_broadcaster/FrankaRobotStateBroadcaster")

ARGUMENTS = [
    ("robot_ip", "", "The FR3's control address (required unless use_fake_hardware:=true)"),
    ("use_fake_hardware", "false", "ros2_control mock hardware instead of the robot (no robot needed)"),
    ("load_gripper", "true", "A Franka Hand is mounted (franka_gripper; with fake hardware, a mock gripper)"),
    ("cameras", "wrist=/camera/wrist/image_raw,exterior=/camera/exterior/image_raw",
     "Cameras as name=topic pairs, comma-separated: any sensor_msgs/Image topic, observed as image.<name>"),
    ("policy", "remote", "Policy: remote (a protocol v1 server) or act (local ACT)"),
    ("host", "localhost", "remote: policy server host"),
    ("port", "8000", "remote: policy server port"),
    ("model_id", "", "remote: checkpoint id (empty = the server's latest)"),
    ("resize", "640", "remote: downscale images whose longest side exceeds this many pixels (0 = never)"),
    ("checkpoints_dir", "", "act: LeRobot checkpoints directory"),
    ("checkpoint", "", "act: checkpoint id (empty = the highest step)"),
    ("policy_fps", "15.0", "Control rate in Hz: one action per tick"),
    ("mode", "manual", "Episode driver: manual (start/stop by service call) or timed"),
    ("duration", "15.0", "timed: seconds per episode"),
    ("iterations", "1", "timed: number of episodes"),
    ("task", "Pick up the green cube and place it on the red cube.", "The instruction of timed episodes"),
    ("record", "true", "Record each episode as a rosbag2 bag, converted into a Positronic dataset"),
    ("output_dir", "recordings/real", "Where bags (output_dir/bags) and the dataset (output_dir/dataset) go"),
    ("dataset_dir", "", "The dataset's directory instead of output_dir/dataset"),
    ("exit_when_done", "false", "timed: shut everything down once the last episode is recorded"),
    ("safety_config", "", "Safety limits file (empty = the package's config/fr3_safety.yaml)"),
    ("controllers", "", "ros2_control controllers file (empty = the package's config/controllers.yaml)"),
]


def parse_cameras(text: str) -> list[tuple[str, str]]:
    """`wrist=/a/image_raw,exterior=/b` -> [("wrist", "/a/image_raw"), ("exterior", "/b")]."""
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, topic = item.partition("=")
        name, topic = name.strip().removeprefix("image."), topic.strip()
        if not sep or not name or not topic.startswith("/"):
            raise ValueError(f"cameras: {item!r} is not name=/topic")
        pairs.append((name, topic))
    return pairs


def _nodes(context: LaunchContext) -> list:
    arg = LaunchConfiguration
    value = lambda name: arg(name).perform(context)  # noqa: E731
    share = FindPackageShare("positronic_bringup").perform(context)
    fake = value("use_fake_hardware").lower() == "true"
    gripper = value("load_gripper").lower() == "true"
    robot_ip = value("robot_ip")
    if not robot_ip and not fake:
        raise RuntimeError("real.launch.py: robot_ip:=<address> is required (or use_fake_hardware:=true)")
    cameras = parse_cameras(value("cameras"))
    controllers = value("controllers") or f"{share}/config/controllers.yaml"
    safety = value("safety_config") or f"{share}/config/fr3_safety.yaml"
    config = f"{share}/config/real.yaml"
    output_dir = value("output_dir")
    dataset_dir = value("dataset_dir") or f"{output_dir}/dataset"
    exit_when_done = value("exit_when_done").lower() == "true"

    description = ParameterValue(Command([
        FindExecutable(name="xacro"), " ",
        PathJoinSubstitution([FindPackageShare("franka_description"), "robots", "fr3", "fr3.urdf.xacro"]),
        " ros2_control:=true robot_type:=fr3", f" robot_ip:={robot_ip or 'none'}", f" hand:={str(gripper).lower()}",
        f" use_fake_hardware:={str(fake).lower()}", " fake_sensor_commands:=false"]), value_type=str)
    spawned = CONTROLLERS + ([] if fake else [FRANKA_STATE_BROADCASTER[0]])
    # libfranka runs the FR3 at 1 kHz; mock hardware needs no such loop and 100 Hz spares the CPU.
    manager = {"update_rate": 100} if fake else {"update_rate": 1000,
                                                 f"{FRANKA_STATE_BROADCASTER[0]}.type": FRANKA_STATE_BROADCASTER[1]}
    camera_remaps = [(f"/camera/{name}/image_raw", topic) for name, topic in cameras
                     if topic != f"/camera/{name}/image_raw"]
    trajectory_topic = f"/{TRAJECTORY_CONTROLLER}/joint_trajectory"
    # The recorder keeps the chunks' trajectories (and holds) under the command topic a bag converts.
    recorded_command = [("/command/joint_trajectory", trajectory_topic)]

    nodes = [
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[{"robot_description": description}]),
        Node(package="controller_manager", executable="ros2_control_node", output="screen",
             parameters=[controllers, manager], on_exit=Shutdown()),
        # The controllers' own parameters (their types among them) are loaded by the spawner, as in sim.
        *controller_spawner(spawned, controllers),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("franka_gripper"), "launch",
                                                                "gripper.launch.py"])),
            launch_arguments={"robot_ip": robot_ip or "none", "use_fake_hardware": "false", "robot_type": "fr3",
                              "namespace": ""}.items(),
            condition=IfCondition(str(gripper and not fake))),
        Node(package="positronic_ros", executable="gripper_node", name="gripper_node", output="screen",
             condition=IfCondition(str(gripper)), parameters=[config, {"fake": fake}]),
        Node(package="positronic_ros", executable="ee_pose_node", name="ee_pose_node", output="screen",
             parameters=[config, {"ee_frame": "fr3_hand_tcp" if gripper else "fr3_link8"}]),
        Node(package="positronic_ros", executable="policy_node", name="policy_node", output="screen",
             remappings=camera_remaps,
             parameters=[config, {
                 "policy": value("policy"), "host": value("host"), "port": int(value("port")),
                 "model_id": value("model_id"), "resize": int(value("resize")),
                 "checkpoints_dir": value("checkpoints_dir"),
                 "checkpoint": value("checkpoint"), "policy_fps": float(value("policy_fps")),
                 "cameras": [f"image.{name}" for name, _ in cameras], "safety_config": safety,
                 "command_mode": "trajectory", "trajectory_topic": trajectory_topic}]),
        Node(package="positronic_ros", executable="episode_driver_node", name="episode_driver_node",
             output="screen", on_exit=Shutdown() if exit_when_done else None, parameters=[config, {
                 "mode": value("mode"), "duration": float(value("duration")),
                 "iterations": int(value("iterations")), "task": value("task"), "dataset_dir": dataset_dir,
                 "exit_when_done": exit_when_done}]),
    ]
    if value("record").lower() == "true":
        with open(config) as f:
            topics = yaml.safe_load(f)["recorder_node"]["ros__parameters"]["topics"]
        nodes.append(Node(
            package="positronic_ros", executable="recorder_node", name="recorder_node", output="screen",
            sigterm_timeout="35", remappings=camera_remaps + recorded_command, parameters=[config, {
                "topics": topics + [f"/camera/{name}/image_raw" for name, _ in cameras],
                "output_dir": f"{output_dir}/bags", "dataset_dir": dataset_dir}]))
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS],
        OpaqueFunction(function=_nodes),
    ])
