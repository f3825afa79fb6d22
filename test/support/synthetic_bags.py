"""Synthetic episode bags laid out as our ROS recorder writes them, with the values they should convert to.

Used by the tests and `bench/bag2dataset.py`. `write_episode_bag(path, spec)` writes one bag with rosbags (MCAP or
SQLite) and returns `BagTruth`: per step, the values in Positronic's conventions (joints in panda_joint1..7 order,
quaternions w, x, y, z, RGB frames from `frame_rgb`). The bag itself holds them the ROS way: joint names in
`spec.joint_names` order with finger joints mixed in, quaternions x, y, z, w, frames in each camera's encoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.bags.topics import ARM_JOINTS
from positronic_core.dataset.sample_text import sample_to_json

SHUFFLED_JOINTS = (
    "panda_joint4",
    "panda_finger_joint1",
    "panda_joint1",
    "panda_joint7",
    "panda_joint2",
    "panda_finger_joint2",
    "panda_joint6",
    "panda_joint3",
    "panda_joint5",
)
INFERENCE_STATS = "positronic_interfaces/msg/InferenceStats"
# A stand-in definition: what matters is that the converter's typestore does not know the type.
_INFERENCE_STATS_MSG = "builtin_interfaces/Time stamp\nfloat32 latency_ms\nuint32 chunk_size\n"
_RECEIVE_LATENCY_NS = 3_000_000

# Receive-time offsets `write_episode_bag` uses, for tests that check signals timed by receive time.
RECEIVE_OFFSETS_NS = {
    "grip": 20_000,
    "target_grip": 200_000,
    "robot_commands.pose": 210_000,
    "robot_commands.joints": 220_000,
    "box_distance": 300_000,
    "stacking_success": 310_000,
}


@dataclass
class BagSpec:
    steps: int = 12
    rate_hz: float = 15.0
    start_ns: int = 1_700_000_000_000_000_000
    storage: str = "mcap"  # or "sqlite3"
    cameras: dict[str, str] = field(default_factory=lambda: {"front": "rgb8", "wrist": "bgr8"})
    width: int = 64
    height: int = 48
    row_padding: int = 0  # extra bytes at the end of each image row (`step` > width * channels)
    joint_names: tuple[str, ...] = SHUFFLED_JOINTS
    joint_states: bool = True
    gripper_only_joint_states: bool = False  # also publish finger-only JointState messages on /joint_states
    duplicate_joint_state: bool = False  # re-publish step 1's joint state with the same stamp
    late_frame: bool = False  # after step 2, re-publish step 0's first-camera frame (out of order)
    commands: bool = True
    sim_observers: bool = True
    policy_stats: bool = False
    timeline: bool = False  # the policy node's inference timeline on /policy/timeline (see `timeline_value`)
    header_clock_offset_ns: int = 0  # header stamps on another clock than receive times (sim time vs wall time)
    custom_data: dict[str, str] = field(default_factory=dict)
    metadata_messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BagTruth:
    """Expected signals, one row per step, in Positronic's conventions."""

    stamps_ns: np.ndarray  # header stamps
    received_ns: np.ndarray  # bag receive times of the step's first message
    q: np.ndarray
    dq: np.ndarray
    ee_pose: np.ndarray  # x, y, z, qw, qx, qy, qz
    grip: np.ndarray
    target_grip: np.ndarray
    command_pose: np.ndarray
    command_joints: np.ndarray
    box_distance: np.ndarray
    stacking_success: np.ndarray


def frame_rgb(step: int, camera: int, width: int, height: int) -> np.ndarray:
    """A smooth, strongly coloured frame with a bright square that moves each step (H.264 keeps it recognisable)."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = 200 - (60 * y // max(height, 1))
    image[..., 1] = 40 + (80 * x // max(width, 1)) + 20 * camera
    image[..., 2] = 30
    size = max(4, min(width, height) // 4)
    left = (step * 3 + camera * 7) % max(1, width - size)
    top = (step * 2) % max(1, height - size)
    image[top : top + size, left : left + size] = (20, 220, 240)
    return image


def _unit_quat_wxyz(step: int) -> np.ndarray:
    q = np.array([0.9, 0.1 + 0.01 * step, -0.2, 0.3 - 0.005 * step])
    return q / np.linalg.norm(q)


#: Steps at which the synthetic policy asked for a chunk (every fifth), and what each timeline sample holds.
TIMELINE_REQUEST_EVERY = 5


def timeline_value(signal: str, step: int) -> Any:
    if signal == "inference.idle":
        return int(step % 3 == 0)
    if signal == "inference.latency_ms":
        return 20.0 + step
    if signal == "inference.chunk_size":
        return 2
    return np.arange(16, dtype=np.float64) + step  # inference.chunk: two actions of 7 targets and a grip


def expected_values(spec: BagSpec) -> BagTruth:
    steps = np.arange(spec.steps)
    period = int(round(1e9 / spec.rate_hz))
    ticks = spec.start_ns + steps * period
    joints = np.arange(7)
    ee_position = np.stack([0.3 + 0.001 * steps, 0.05 * np.ones(spec.steps), 0.5 - 0.002 * steps], axis=1)
    quats = np.stack([_unit_quat_wxyz(i) for i in steps])
    return BagTruth(
        stamps_ns=(ticks + spec.header_clock_offset_ns).astype(np.int64),
        received_ns=(ticks + _RECEIVE_LATENCY_NS).astype(np.int64),
        q=0.1 * (joints[None, :] + 1) + 0.01 * steps[:, None],
        dq=-0.05 * (joints[None, :] + 1) + 0.001 * steps[:, None],
        ee_pose=np.concatenate([ee_position, quats], axis=1),
        grip=np.clip(steps / max(spec.steps - 1, 1), 0, 1).astype(np.float32).astype(np.float64),
        target_grip=(steps >= spec.steps // 2).astype(np.float64),
        command_pose=np.concatenate([ee_position + 0.01, quats[::-1]], axis=1),
        command_joints=0.2 * (joints[None, :] + 1) - 0.01 * steps[:, None],
        box_distance=(0.2 - 0.01 * steps).astype(np.float32).astype(np.float64),
        stacking_success=(steps > spec.steps - 3).astype(np.float64),
    )


def write_episode_bag(path: Path, spec: BagSpec | None = None) -> BagTruth:
    """Write `spec` as a rosbag2 bag directory at `path` (which must not exist); return what it should convert to."""
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    spec = spec or BagSpec()
    truth = expected_values(spec)
    store = get_typestore(Stores.ROS2_JAZZY)
    if spec.policy_stats:
        store.register(get_types_from_msg(_INFERENCE_STATS_MSG, INFERENCE_STATS))
    types = store.types
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[spec.storage]

    def stamp(ns: int) -> Any:
        return types["builtin_interfaces/msg/Time"](sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))

    def header(ns: int, frame_id: str = "") -> Any:
        return types["std_msgs/msg/Header"](stamp=stamp(ns), frame_id=frame_id)

    def pose_msg(ns: int, pose7: np.ndarray) -> Any:
        qw, qx, qy, qz = (float(v) for v in pose7[3:7])
        pose = types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=float(pose7[0]), y=float(pose7[1]), z=float(pose7[2])),
            orientation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw),
        )
        return types["geometry_msgs/msg/PoseStamped"](header=header(ns, "base"), pose=pose)

    def float_msg(value: float) -> Any:
        return types["std_msgs/msg/Float32"](data=float(value))

    def joint_state(ns: int, step: int, names: tuple[str, ...]) -> Any:
        by_name = {joint: (truth.q[step, i], truth.dq[step, i]) for i, joint in enumerate(ARM_JOINTS)}
        position = np.array([by_name.get(name, (0.02, 0.0))[0] for name in names], dtype=np.float64)
        velocity = np.array([by_name.get(name, (0.02, 0.0))[1] for name in names], dtype=np.float64)
        return types["sensor_msgs/msg/JointState"](
            header=header(ns), name=list(names), position=position, velocity=velocity, effort=np.zeros(0)
        )

    def image_msg(ns: int, step: int, camera: int, encoding: str) -> Any:
        rgb = frame_rgb(step, camera, spec.width, spec.height)
        pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
        row = spec.width * 3
        rows = np.zeros((spec.height, row + spec.row_padding), dtype=np.uint8)
        rows[:, :row] = pixels.reshape(spec.height, row)
        return types["sensor_msgs/msg/Image"](
            header=header(ns, f"camera_{camera}"),
            height=spec.height,
            width=spec.width,
            encoding=encoding,
            is_bigendian=0,
            step=row + spec.row_padding,
            data=rows.reshape(-1),
        )

    def trajectory_msg(step: int) -> Any:
        names = list(reversed(ARM_JOINTS))
        point = types["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=truth.command_joints[step][::-1].copy(),
            velocities=np.zeros(0),
            accelerations=np.zeros(0),
            effort=np.zeros(0),
            time_from_start=types["builtin_interfaces/msg/Duration"](sec=0, nanosec=66_000_000),
        )
        return types["trajectory_msgs/msg/JointTrajectory"](header=header(0), joint_names=names, points=[point])

    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for key, value in spec.custom_data.items():
            writer.set_custom_data(key, value)
        connections: dict[str, Any] = {}

        def write(topic: str, received_ns: int, msg: Any) -> None:
            msgtype = msg.__msgtype__
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], int(received_ns), store.serialize_cdr(msg, msgtype))

        for obj in spec.metadata_messages:
            write("/episode/metadata", spec.start_ns, types["std_msgs/msg/String"](data=json.dumps(obj)))
        for step in range(spec.steps):
            ns, received = int(truth.stamps_ns[step]), int(truth.received_ns[step])
            if spec.joint_states:
                write("/joint_states", received, joint_state(ns, step, spec.joint_names))
                if spec.gripper_only_joint_states:
                    fingers = ("panda_finger_joint1", "panda_finger_joint2")
                    write("/joint_states", received + 1_000, joint_state(ns, step, fingers))
                if spec.duplicate_joint_state and step == 1:
                    write("/joint_states", received + 2_000, joint_state(ns, step, spec.joint_names))
            write("/ee_pose", received + 10_000, pose_msg(ns, truth.ee_pose[step]))
            write("/gripper/state", received + RECEIVE_OFFSETS_NS["grip"], float_msg(truth.grip[step]))
            for camera, (name, encoding) in enumerate(spec.cameras.items()):
                topic = f"/camera/{name}/image_raw"
                write(topic, received + 100_000 + camera, image_msg(ns, step, camera, encoding))
                if spec.late_frame and step == 2 and camera == 0:
                    write(topic, received + 150_000, image_msg(int(truth.stamps_ns[0]), 0, camera, encoding))
            if spec.commands:
                # Commands carry a zero stamp, as "execute now" commands do: they are timed by receive time.
                offsets = RECEIVE_OFFSETS_NS
                write("/gripper/command", received + offsets["target_grip"], float_msg(truth.target_grip[step]))
                write("/command/pose", received + offsets["robot_commands.pose"], pose_msg(0, truth.command_pose[step]))
                write("/command/joint_trajectory", received + offsets["robot_commands.joints"], trajectory_msg(step))
            if spec.sim_observers:
                write(
                    "/sim/box_distance",
                    received + RECEIVE_OFFSETS_NS["box_distance"],
                    float_msg(truth.box_distance[step]),
                )
                write(
                    "/sim/stacking_success",
                    received + RECEIVE_OFFSETS_NS["stacking_success"],
                    float_msg(truth.stacking_success[step]),
                )
            if spec.policy_stats:
                stats = types[INFERENCE_STATS](stamp=stamp(ns), latency_ms=12.5, chunk_size=10)
                write("/policy/stats", received + 400_000, stats)
            if spec.timeline:
                signals = ["inference.idle"]
                if step % TIMELINE_REQUEST_EVERY == 0:
                    signals += ["inference.latency_ms", "inference.chunk_size", "inference.chunk"]
                for i, signal in enumerate(signals):
                    text = sample_to_json(signal, timeline_value(signal, step), ns)
                    # Replies arrive after the request they answer: receive time is later than the sample's own.
                    write("/policy/timeline", received + 500_000 + i, types["std_msgs/msg/String"](data=text))
    return truth
