#!/bin/bash
# The ros image's entry point: ROS 2 Jazzy, franka_ros2 and this workspace sourced, then the command given (by
# default `positronic-inference real --help`).
set -e
source /opt/ros/jazzy/setup.bash
source /opt/franka_ws/install/setup.bash
source /opt/positronic/install/setup.bash
exec "$@"
