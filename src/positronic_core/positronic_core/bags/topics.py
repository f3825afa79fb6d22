"""Which recorded topic becomes which dataset signal, and how one decoded message turns into samples.

| topic                              | message type                        | signals                              |
|------------------------------------|-------------------------------------|--------------------------------------|
| `/joint_states`                    | sensor_msgs/msg/JointState          | robot_state.q, robot_state.dq        |
| `/ee_pose`                         | geometry_msgs/msg/PoseStamped       | robot_state.ee_pose                  |
| `/gripper/state`                   | std_msgs/msg/Float32                | grip                                 |
| `/gripper/command`                 | std_msgs/msg/Float32                | target_grip                          |
| `/camera/<name>/image_raw`         | sensor_msgs/msg/Image               | image.<name>                         |
| `/command/pose`                    | geometry_msgs/msg/PoseStamped       | robot_commands.pose                  |
| `/command/joint_trajectory`        | trajectory_msgs/msg/JointTrajectory | robot_commands.joints                |
| `/sim/box_distance`                | std_msgs/msg/Float32                | box_distance                         |
| `/sim/stacking_success`            | std_msgs/msg/Float32                | stacking_success                     |
| `/episode/metadata`                | std_msgs/msg/String (a JSON object) | statics (see `episode_metadata`)     |
| `/policy/timeline`                 | std_msgs/msg/String (a JSON object) | inference.latency_ms, .chunk_size,   |
|                                    |                                     | .chunk, .idle (`dataset.sample_text`)|
|                                    |                                     | safety.hold, safety.limited          |

This is the ROS boundary of the recording path, so the conversions happen here and nowhere else:

- Joint vectors are reordered to panda_joint1..7 (or the FR3's fr3_joint1..7) whatever order the message lists its
  joints in; finger joints are ignored, and a message naming no arm joint at all (a gripper's own joint_states)
  records nothing.
- Poses become (x, y, z, qw, qx, qy, qz): ROS orders quaternions x, y, z, w, Positronic w, x, y, z.
- Images become uint8 (H, W, 3) RGB: bgr8 is channel-reversed, rgba8/bgra8 lose alpha, mono8 is repeated.
- A sample's time is the message's header stamp when it has a non-zero one, else the time the bag received it;
  `/policy/timeline` samples carry their own time (a chunk is timed by when it was asked for, not by its reply).

Messages are decoded with rosbags' typestore for Jazzy (identical to Humble's for every type above), whichever
reader produced the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from positronic_core.dataset.sample_text import sample_from_json
from positronic_core.geometry import quat_xyzw_to_wxyz

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
#: franka_description's FR3 (the real arm, and its ros2_control fake hardware) names the same seven joints so.
FR3_JOINTS = tuple(f"fr3_joint{i}" for i in range(1, 8))
ARM_JOINT_SETS = (ARM_JOINTS, FR3_JOINTS)

JOINT_STATE = "sensor_msgs/msg/JointState"
IMAGE = "sensor_msgs/msg/Image"
POSE_STAMPED = "geometry_msgs/msg/PoseStamped"
FLOAT32 = "std_msgs/msg/Float32"
STRING = "std_msgs/msg/String"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"

JOINT_STATES_TOPIC = "/joint_states"
METADATA_TOPIC = "/episode/metadata"
TIMELINE_TOPIC = "/policy/timeline"
#: The control loop's inference timeline, as the in-process recording names it (`runtime.control_loop`), and the
#: safety guard's holds and limited commands (`runtime.safety_guard`).
TIMELINE_SIGNALS = ("inference.latency_ms", "inference.chunk_size", "inference.chunk", "inference.idle",
                    "safety.hold", "safety.limited")
_CAMERA_TOPIC = re.compile(r"^/camera/(?P<name>[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*)/image_raw$")

# Bytes per pixel of the image encodings we accept (sensor_msgs/image_encodings.hpp names).
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class MessageError(ValueError):
    """A message of a known topic cannot become a sample; the text says what is wrong with it."""


#: (signal, value) pairs timed by the message, or (signal, value, ts_ns) for a rule that is `self_timed`.
Samples = Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class TopicRule:
    """How one topic is recorded: its expected type, the signals it feeds, and the message -> samples function.

    `samples` returns (signal, value) pairs; an empty result means the message carries nothing we record.
    """

    msgtype: str
    signals: tuple[str, ...]
    samples: Callable[[Any], Samples]
    self_timed: bool = False


def camera_signal(topic: str) -> str | None:
    """`image.<name>` for `/camera/<name>/image_raw` (nested names joined with dots), else None."""
    match = _CAMERA_TOPIC.match(topic)
    return None if match is None else "image." + match["name"].replace("/", ".")


def rule_for(topic: str) -> TopicRule | None:
    """The rule recording `topic`, or None for a topic the dataset has no signal for."""
    rule = _FIXED_RULES.get(topic)
    if rule is not None:
        return rule
    signal = camera_signal(topic)
    if signal is None:
        return None
    return TopicRule(IMAGE, (signal,), lambda msg: ((signal, image_rgb(msg)),))


@cache
def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


@cache
def known_types() -> frozenset[str]:
    """Every message type the decoder knows (Jazzy's standard interfaces)."""
    return frozenset(_typestore().types)


def decode(raw: bytes | memoryview, msgtype: str) -> Any:
    """Deserialize CDR bytes into a message object with the same field names as rclpy's."""
    return _typestore().deserialize_cdr(raw, msgtype)


def header_stamp_ns(msg: Any) -> int | None:
    """The header stamp in ns, or None if the message has no header or its stamp is zero."""
    header = getattr(msg, "header", None)
    if header is None:
        return None
    ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    return ns or None


@lru_cache(maxsize=64)
def arm_joint_order(names: tuple[str, ...]) -> np.ndarray | None:
    """Indices that pick joints 1..7 (panda_joint* or fr3_joint*) out of `names`; None if `names` holds no arm
    joint at all."""
    index = {name: i for i, name in enumerate(names)}
    for joints in ARM_JOINT_SETS:
        missing = [joint for joint in joints if joint not in index]
        if len(missing) == len(joints):
            continue
        if missing:
            raise MessageError(f"names some arm joints but lacks {', '.join(missing)} (has {', '.join(names)})")
        return np.array([index[joint] for joint in joints], dtype=np.intp)
    return None


def _joint_vector(values: Any, names: Sequence[str], order: np.ndarray, what: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(vector) != len(names):
        raise MessageError(f"lists {len(names)} joint names but {len(vector)} {what}")
    return vector[order]


def joint_state_samples(msg: Any) -> Samples:
    names = tuple(msg.name)
    order = arm_joint_order(names)
    if order is None:
        return ()
    samples = [("robot_state.q", _joint_vector(msg.position, names, order, "positions"))]
    if len(msg.velocity):
        samples.append(("robot_state.dq", _joint_vector(msg.velocity, names, order, "velocities")))
    return samples


def trajectory_samples(msg: Any) -> Samples:
    """The first point's positions: the target the controller is sent towards next."""
    if not msg.points:
        return ()
    names = tuple(msg.joint_names)
    order = arm_joint_order(names)
    if order is None:
        return ()
    return (("robot_commands.joints", _joint_vector(msg.points[0].positions, names, order, "positions")),)


def pose7(msg: Any) -> np.ndarray:
    """(x, y, z, qw, qx, qy, qz) of a geometry_msgs/PoseStamped."""
    position, orientation = msg.pose.position, msg.pose.orientation
    xyzw = np.array([orientation.x, orientation.y, orientation.z, orientation.w], dtype=np.float64)
    return np.concatenate([np.array([position.x, position.y, position.z], dtype=np.float64), quat_xyzw_to_wxyz(xyzw)])


def image_rgb(msg: Any) -> np.ndarray:
    """A uint8 (H, W, 3) RGB view of a sensor_msgs/Image (copied only for mono8); rows may be padded (`step`)."""
    encoding = str(msg.encoding)
    channels = _CHANNELS.get(encoding.lower())
    if channels is None:
        raise MessageError(f"image encoding {encoding!r} is not supported (use one of {', '.join(_CHANNELS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise MessageError(f"image is {width}x{height}")
    if step < width * channels:
        raise MessageError(f"image step {step} is shorter than a row of {width} {encoding} pixels")
    data = msg.data
    data = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    if data.size < step * height:
        needed = step * height
        raise MessageError(f"image holds {data.size} bytes; {width}x{height} {encoding} at step {step} needs {needed}")
    pixels = data[: step * height].reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    encoding = encoding.lower()
    if encoding == "rgb8":
        return pixels
    if encoding == "bgr8":
        return pixels[..., ::-1]
    if encoding == "rgba8":
        return pixels[..., :3]
    if encoding == "bgra8":
        return pixels[..., 2::-1]
    return np.repeat(pixels, 3, axis=2)


def packed_rgb(frame: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of an (H, W, 3) view, channel by channel.

    For a bgr8 frame's channel-reversed view that is about 5x faster than `np.ascontiguousarray` (0.15 against
    0.8 ms at 320x240), which walks the reversed last axis element by element.
    """
    if frame.flags.c_contiguous:
        return frame
    packed = np.empty(frame.shape, dtype=frame.dtype)
    for channel in range(frame.shape[2]):
        packed[..., channel] = frame[..., channel]
    return packed


def timeline_samples(msg: Any) -> Samples:
    """One sample of the policy node's inference timeline, with its own time (see `dataset.sample_text`)."""
    try:
        signal, value, ts_ns = sample_from_json(msg.data)
    except ValueError as e:
        raise MessageError(str(e)) from None
    if signal not in TIMELINE_SIGNALS:
        raise MessageError(f"{signal!r} is not an inference timeline signal ({', '.join(TIMELINE_SIGNALS)})")
    return ((signal, value, ts_ns),)


def _pose_rule(signal: str) -> TopicRule:
    return TopicRule(POSE_STAMPED, (signal,), lambda msg: ((signal, pose7(msg)),))


def _float_rule(signal: str) -> TopicRule:
    return TopicRule(FLOAT32, (signal,), lambda msg: ((signal, float(msg.data)),))


_FIXED_RULES: dict[str, TopicRule] = {
    JOINT_STATES_TOPIC: TopicRule(JOINT_STATE, ("robot_state.q", "robot_state.dq"), joint_state_samples),
    "/ee_pose": _pose_rule("robot_state.ee_pose"),
    "/gripper/state": _float_rule("grip"),
    "/gripper/command": _float_rule("target_grip"),
    "/command/pose": _pose_rule("robot_commands.pose"),
    "/command/joint_trajectory": TopicRule(JOINT_TRAJECTORY, ("robot_commands.joints",), trajectory_samples),
    "/sim/box_distance": _float_rule("box_distance"),
    "/sim/stacking_success": _float_rule("stacking_success"),
    TIMELINE_TOPIC: TopicRule(STRING, TIMELINE_SIGNALS, timeline_samples, self_timed=True),
}
