"""The simulated loop: MuJoCo sim, policy, episode driver, recorder, robot_state_publisher and (optionally) rviz.

With `ros2_control:=true` the arm runs through ros2_control instead: mujoco_ros2_control simulates the same scene
(config/fr3_mujoco.urdf.xacro, the MJCF `sim_mjcf` writes), config/controllers.yaml's controllers execute the
policy's chunks as joint trajectories, and `scene_mirror_node` publishes the cameras and scene topics `sim_node`
would.

    ros2 launch positronic_bringup sim.launch.py                       # scripted expert, episodes by service call
    ros2 launch positronic_bringup sim.launch.py ros2_control:=true    # the same through mujoco_ros2_control
    ros2 launch positronic_bringup sim.launch.py policy:=remote host:=gpu-box model_id:=010000
    ros2 launch positronic_bringup sim.launch.py mode:=timed iterations:=10 record:=true output_dir:=/data/run1
    ros2 service call /episode/start positronic_interfaces/srv/StartEpisode "{task: 'stack the cubes'}"

`ros2 launch positronic_bringup sim.launch.py --show-args` describes every argument.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

from launch import LaunchDescription
from positronic_ros.controller_spawner import controller_spawner

ARGUMENTS = [
    ("policy", "scripted", "Policy: scripted (built-in expert), remote (a protocol v1 server) or act (local ACT)"),
    ("host", "localhost", "remote: policy server host"),
    ("port", "8000", "remote: policy server port"),
    ("model_id", "", "remote: checkpoint id (empty = the server's latest)"),
    ("checkpoints_dir", "", "act: LeRobot checkpoints directory"),
    ("checkpoint", "", "act: checkpoint id (empty = the highest step)"),
    ("mode", "manual", "Episode driver: manual (start/stop by service call) or timed"),
    ("duration", "15.0", "timed: seconds per episode"),
    ("iterations", "1", "timed: number of episodes"),
    ("record", "true", "Record each episode as a rosbag2 bag"),
    ("output_dir", "recordings/ros", "Where bags (output_dir/bags) and the converted dataset (output_dir/dataset) go"),
    ("rviz", "false", "Start rviz2 with config/positronic.rviz"),
    ("use_sim_time", "true", "Run policy, driver and recorder on the simulator's /clock"),
    ("ros2_control", "false", "Simulate with mujoco_ros2_control and drive the arm through ros2_control controllers"),
]
CONTROLLERS = ["joint_state_broadcaster", "arm_controller", "gripper_controller"]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("positronic_bringup")
    config = PathJoinSubstitution([share, "config", "sim.yaml"])
    controllers = PathJoinSubstitution([share, "config", "controllers.yaml"])
    arg = LaunchConfiguration
    plain, control = UnlessCondition(arg("ros2_control")), IfCondition(arg("ros2_control"))
    # The ros2_control path's overrides of sim.yaml (the plain path reads sim.yaml twice).
    path_config = PathJoinSubstitution([share, "config", PythonExpression(
        ["'ros2_control.yaml' if '", arg("ros2_control"), "'.lower() == 'true' else 'sim.yaml'"])])
    sim_time = {"use_sim_time": ParameterValue(arg("use_sim_time"), value_type=bool)}
    # ros2_control: the Python nodes take the simulator's clock as scene_mirror_node relays it, at 100 Hz instead of
    # every physics step (see scene_mirror_node); the C++ nodes take it whole.
    clock = [("/clock", PythonExpression(
        ["'/sim/clock' if '", arg("ros2_control"), "'.lower() == 'true' else '/clock'"]))]
    # ros2_control: the arm's commands are the chunks' trajectories; the recorder keeps them under the command topic
    # a bag converts (as real.launch.py does).
    recorded_command = [("/command/joint_trajectory", PythonExpression(
        ["'/arm_controller/joint_trajectory' if '", arg("ros2_control"),
         "'.lower() == 'true' else '/command/joint_trajectory'"]))]
    ros_lib = PathJoinSubstitution([FindPackagePrefix("positronic_ros"), "lib", "positronic_ros"])
    # The URDF is generated from the simulator's own MJCF, so rviz shows exactly the simulated kinematics.
    urdf = ParameterValue(Command([PathJoinSubstitution([ros_lib, "sim_urdf"])]), value_type=str)
    # ros2_control: the scene's MJCF, written for mujoco_ros2_control (and mirrored by scene_mirror_node), and the
    # FR3 description whose ros2_control block loads it.
    mjcf = Command([PathJoinSubstitution([ros_lib, "sim_mjcf"])])
    control_urdf = ParameterValue(Command([
        FindExecutable(name="xacro"), " ", PathJoinSubstitution([share, "config", "fr3_mujoco.urdf.xacro"]),
        " mujoco_model:=", mjcf]), value_type=str)
    output_dir = arg("output_dir")
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS],
        Node(package="positronic_ros", executable="sim_node", name="sim_node", output="screen",
             parameters=[config], condition=plain),
        Node(package="mujoco_ros2_control", executable="ros2_control_node", output="screen", condition=control,
             parameters=[{"use_sim_time": True}, controllers,
                         PathJoinSubstitution([share, "config", "mujoco_sim.yaml"])]),
        *controller_spawner(CONTROLLERS, controllers, condition=control),
        Node(package="positronic_ros", executable="scene_mirror_node", name="scene_mirror_node", output="screen",
             condition=control, parameters=[config, {"use_sim_time": False, "model_file": mjcf}]),
        Node(package="positronic_ros", executable="policy_node", name="policy_node", output="screen", remappings=clock,
             parameters=[config, path_config, sim_time, {
                 "policy": arg("policy"), "host": arg("host"),
                 "port": ParameterValue(arg("port"), value_type=int),
                 "model_id": ParameterValue(arg("model_id"), value_type=str),
                 "checkpoints_dir": ParameterValue(arg("checkpoints_dir"), value_type=str),
                 "checkpoint": ParameterValue(arg("checkpoint"), value_type=str)}]),
        Node(package="positronic_ros", executable="episode_driver_node", name="episode_driver_node",
             output="screen", remappings=clock, parameters=[config, sim_time, {
                 "mode": arg("mode"), "duration": ParameterValue(arg("duration"), value_type=float),
                 "iterations": ParameterValue(arg("iterations"), value_type=int),
                 "dataset_dir": PathJoinSubstitution([output_dir, "dataset"])}]),
        # On Ctrl-C the recorder waits up to its conversion_wait (30 s) for the last episode's conversion; launch
        # would otherwise kill it 10 s after Ctrl-C (SIGTERM at 5 s, SIGKILL 5 s later), leaving that conversion to
        # the recorder's next start.
        Node(package="positronic_ros", executable="recorder_node", name="recorder_node", output="screen",
             sigterm_timeout="35", condition=IfCondition(arg("record")), remappings=clock + recorded_command,
             parameters=[config, sim_time, {
                 "output_dir": PathJoinSubstitution([output_dir, "bags"]),
                 "dataset_dir": PathJoinSubstitution([output_dir, "dataset"])}]),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[sim_time, {"robot_description": urdf}], condition=plain),
        Node(package="robot_state_publisher", executable="robot_state_publisher", output="screen",
             parameters=[sim_time, {"robot_description": control_urdf}], condition=control),
        Node(package="rviz2", executable="rviz2", output="screen", condition=IfCondition(arg("rviz")),
             arguments=["-d", PathJoinSubstitution([FindPackageShare("positronic_bringup"), "config",
                                                    "positronic.rviz"])],
             parameters=[sim_time]),
    ])
