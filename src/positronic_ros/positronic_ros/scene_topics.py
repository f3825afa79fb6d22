"""The cube-stacking scene's published state, the same on both simulation paths.

`sim_node` (our MuJoCo simulator) and `scene_mirror_node` (the scene as mujoco_ros2_control drives it) publish one
set of topics, so the policy, driver and recorder nodes cannot tell the paths apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float32, String

from positronic_core.stacking_task import PRIVILEGED_KEYS
from positronic_ros import conversions

LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
OBSERVERS = ("box_distance", "stacking_success")


def camera_info(width: int, height: int, fovy_deg: float, stamp, frame_id: str) -> CameraInfo:
    """Pinhole intrinsics of a MuJoCo camera: square pixels, vertical field of view `fovy_deg`."""
    fy = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [fy, 0.0, width / 2, 0.0, fy, height / 2, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fy, 0.0, width / 2, 0.0, 0.0, fy, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


class SceneTopics:
    """Publishers of the EE pose and its path, the grip, the stacking observers, the cubes' poses, the cameras and
    the latched `/sim/meta` (how the scene renders, which the recorder keeps with every episode)."""

    def __init__(self, node: Node, cameras: Sequence[str], sim_meta: dict) -> None:
        self.ee = node.create_publisher(PoseStamped, "/ee_pose", 10)
        self.path = node.create_publisher(Path, "/ee_path", 10)
        self.ee_path = Path()
        self.ee_path.header.frame_id = conversions.WORLD_FRAME
        self.grip = node.create_publisher(Float32, "/gripper/state", 10)
        self.observers = {name: node.create_publisher(Float32, f"/sim/{name}", 10) for name in OBSERVERS}
        self.boxes = {key: node.create_publisher(PoseStamped, conversions.privileged_topic(key), 10)
                      for key in PRIVILEGED_KEYS}
        self.images = {c: node.create_publisher(Image, conversions.camera_topic(c), qos_profile_sensor_data)
                       for c in cameras}
        self.infos = {c: node.create_publisher(CameraInfo, conversions.camera_info_topic(c), qos_profile_sensor_data)
                      for c in cameras}
        self.meta = node.create_publisher(String, "/sim/meta", LATCHED)
        self.meta.publish(String(data=json.dumps(sim_meta)))
