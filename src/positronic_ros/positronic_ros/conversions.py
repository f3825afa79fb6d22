"""ROS messages <-> positronic_core's plain types. The only place quaternion order changes: ROS is (x, y, z, w),
Positronic is (w, x, y, z). Camera frames are uint8 (H, W, 3) RGB arrays on our side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from positronic_core.bags.topics import image_rgb
from positronic_core.geometry import pose7_to_pose12, pose12_to_pose7
from positronic_core.robot.commands import CartesianPosition, JointDelta, JointPosition, RobotCommand

try:
    from cv_bridge import CvBridge

    _BRIDGE = CvBridge()
except ImportError:  # cv_bridge is not on PyPI: with ROS 2 from wheels, images are converted with numpy
    _BRIDGE = None

JOINT_NAMES = [f"panda_joint{i}" for i in range(1, 8)]
WORLD_FRAME = "world"


def camera_topic(camera: str) -> str:
    """`image.wrist` -> `/camera/wrist/image_raw`."""
    return f"/camera/{camera.removeprefix('image.')}/image_raw"


def privileged_topic(key: str) -> str:
    """`sim.box_red.pose` -> `/sim/box_red/pose`."""
    return "/" + key.replace(".", "/")


def camera_info_topic(camera: str) -> str:
    return f"/camera/{camera.removeprefix('image.')}/camera_info"


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def pose7_to_msg(pose7: Sequence[float], stamp: Time, frame_id: str = WORLD_FRAME) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    x, y, z, qw, qx, qy, qz = (float(v) for v in pose7)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
    msg.pose.orientation.x, msg.pose.orientation.y = qx, qy
    msg.pose.orientation.z, msg.pose.orientation.w = qz, qw
    return msg


def msg_to_pose7(msg: PoseStamped) -> np.ndarray:
    p, o = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, o.w, o.x, o.y, o.z])


def joint_state_msg(q: Sequence[float], dq: Sequence[float], stamp: Time) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(JOINT_NAMES)
    msg.position = [float(v) for v in q]
    msg.velocity = [float(v) for v in dq]
    return msg


def joint_state_arrays(msg: JointState, names: Sequence[str] = JOINT_NAMES) -> tuple[np.ndarray, np.ndarray]:
    """(q, dq) of the arm's joints `names` (panda_joint1..7 unless told) in order, whatever order the message lists
    them in."""
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"/joint_states lacks {missing}")
    q = np.array([msg.position[index[n]] for n in names])
    dq = np.array([msg.velocity[index[n]] if len(msg.velocity) > index[n] else 0.0 for n in names])
    return q, dq


def seconds_to_duration(seconds: float) -> Duration:
    ns = int(round(seconds * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def trajectory_msg(positions: Sequence[float], stamp: Time, time_from_start_s: float,
                   names: Sequence[str] = JOINT_NAMES) -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(names)
    point = JointTrajectoryPoint()
    point.positions = [float(v) for v in positions]
    point.time_from_start = seconds_to_duration(time_from_start_s)
    msg.points = [point]
    return msg


def trajectory_to_command(msg: JointTrajectory) -> JointPosition:
    if not msg.points:
        raise ValueError("JointTrajectory has no points")
    index = {name: i for i, name in enumerate(msg.joint_names)}
    missing = [n for n in JOINT_NAMES if n not in index]
    if missing:
        raise ValueError(f"JointTrajectory lacks {missing}")
    point = msg.points[0]
    return JointPosition(np.array([point.positions[index[n]] for n in JOINT_NAMES]))


def pose_msg_to_command(msg: PoseStamped) -> CartesianPosition:
    return CartesianPosition(pose7_to_pose12(msg_to_pose7(msg)))


def command_to_msg(command: RobotCommand, current_q: np.ndarray | None, stamp: Time, tick_s: float,
                   names: Sequence[str] = JOINT_NAMES) -> PoseStamped | JointTrajectory | None:
    """The message that executes `command`: a pose target, or a one-point trajectory reached in one tick.

    A joint delta is turned into an absolute target from the measured joints (None while none were measured);
    a reset has no message (the episode driver resets the scene).
    """
    if isinstance(command, CartesianPosition):
        return pose7_to_msg(pose12_to_pose7(command.pose), stamp)
    if isinstance(command, JointPosition):
        return trajectory_msg(command.positions, stamp, tick_s, names)
    if isinstance(command, JointDelta):
        if current_q is None:
            return None
        return trajectory_msg(np.asarray(current_q) + command.velocities, stamp, tick_s, names)
    return None


def image_to_array(msg: Image) -> np.ndarray:
    """A uint8 (H, W, 3) RGB frame from an Image in rgb8, bgr8, rgba8, bgra8 or mono8 (cv_bridge where installed)."""
    if _BRIDGE is not None:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8")
    return numpy_image_to_array(msg)


def array_to_image(frame: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """An rgb8 Image of a uint8 (H, W, 3) RGB frame (cv_bridge where installed)."""
    msg = _BRIDGE.cv2_to_imgmsg(frame, encoding="rgb8") if _BRIDGE is not None else numpy_array_to_image(frame)
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def numpy_image_to_array(msg: Image) -> np.ndarray:
    """`image_to_array` without cv_bridge: the recording path's decoder, so live and recorded frames agree."""
    return np.ascontiguousarray(image_rgb(msg))


def numpy_array_to_image(frame: np.ndarray) -> Image:
    """`array_to_image` without cv_bridge (and without its header)."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    height, width = frame.shape[:2]
    return Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3, data=frame.tobytes())
