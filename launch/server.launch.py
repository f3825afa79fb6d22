"""The protocol v1 policy server (`positronic-policy-server`) as part of a launch.

    ros2 launch positronic_bringup server.launch.py checkpoints_dir:=/ckpt/experiment_v1 codec:=ee
    ros2 launch positronic_bringup server.launch.py checkpoints_dir:=/ckpt host:=0.0.0.0 auth_token:=SECRET

Clients (the policy node with policy:=remote, `positronic-inference sim --policy=.remote`, upstream Positronic's
client) then connect to ws://HOST:PORT/api/v1/session.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription

ARGUMENTS = [
    ("checkpoints_dir", "", "LeRobot checkpoints directory (DIR/checkpoints/<step>/pretrained_model/)"),
    ("codec", "ee", "ee (EE pose + grip) or joints (joint positions + grip)"),
    ("backend", "lerobot", "lerobot (ACT) or hold_pose (model-free, to check a deployment)"),
    ("host", "127.0.0.1", "Address to bind; beyond loopback needs auth_token (or insecure:=true)"),
    ("port", "8000", "TCP port"),
    ("device", "cpu", "Torch device: cpu, cuda, cuda:1"),
    ("auth_token", "", "Bearer token clients must send (empty: $POSITRONIC_AUTH_TOKEN, or none on loopback)"),
    ("insecure", "false", "Allow binding beyond loopback without a token"),
]


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    command = ["positronic-policy-server", ["--backend=", arg("backend")], ["--codec=", arg("codec")],
               ["--host=", arg("host")], ["--port=", arg("port")], ["--device=", arg("device")],
               ["--insecure=", arg("insecure")], ["--checkpoints_dir=", arg("checkpoints_dir")]]
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS],
        ExecuteProcess(cmd=command, output="screen",
                       additional_env={"POSITRONIC_AUTH_TOKEN": arg("auth_token")}),
    ])
