"""`scene_mirror_node`: on the ros2_control path, what `sim_node` publishes besides physics.

mujoco_ros2_control simulates the scene and publishes `/clock`, `/joint_states` (through joint_state_broadcaster),
every MuJoCo joint on `/mujoco_actuators_states` and the cubes on `/sim/free_joint_states`. This node poses the same
MJCF from those (`SceneMirror`) and publishes `/ee_pose`, `/gripper/state`, `/camera/<name>/image_raw` +
`camera_info`, the stacking observers, the cubes' poses and `/sim/meta`, as `sim_node` does. `/sim/reset`
(positronic_interfaces/ResetEpisode) homes the arm's controllers and resets the simulated world to the `home`
keyframe with the cubes placed from the seed, through mujoco_ros2_control's `reset_world`.

mujoco_ros2_control publishes `/clock` at every physics step (500 Hz of simulated time), and every rclpy node on sim
time pays a Python callback per message: on two cores the policy, driver and recorder spent most of a core on the
clock alone, and the policy's chunks reached the arm controller late. This node is the one Python subscriber: it
runs on its own clock subscription (launch it with use_sim_time false), renders a frame each 1/camera_fps of
simulated time, and relays the clock at `clock_relay_rate` Hz to `clock_relay_topic`, which the launch remaps the
other Python nodes' `/clock` to.

Its state subscriptions keep only the newest message. With the default depth of 10, a node short of CPU worked
through a backlog: the cubes (50 Hz) came out of their queue up to 0.2 s behind the arm's joints (250 Hz), so the
published cube trailed the gripper holding it by 3 cm during a lift, and the scripted expert, taking it for
dropped, let go.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Duration
from mujoco_ros2_control_msgs.msg import FreeJointState, FreeJointStateArray
from mujoco_ros2_control_msgs.srv import ResetWorld
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from positronic_core.runtime.run_statics import simulation_statics
from positronic_core.sim import control_scene, scene
from positronic_core.sim.body_velocity import BodyVelocities
from positronic_core.sim.franka import HOME_Q
from positronic_core.sim.placement import place_cubes
from positronic_core.sim.placement_gate import PlacementGate, Poses
from positronic_core.sim.scene_mirror import SceneMirror
from positronic_interfaces.srv import ResetEpisode
from positronic_ros import conversions
from positronic_ros.node_main import ParameterError, declare, spin
from positronic_ros.scene_topics import SceneTopics, camera_info

#: Placed a hair above the table, as `StackCubesSim.reset` does; they drop onto it.
_DROP_GAP = 1e-4
#: How quickly the arm controller is sent home just before the world reset puts the arm there.
_HOME_IN_S = 0.05
#: Simulated time after a reset within which the cubes must show at their placements (`PlacementGate`).
_PLACED_WITHIN_NS = 1_000_000_000
#: Only the newest state counts: a stale one in a queue would skew the arm against the cubes (module docstring).
_NEWEST = QoSProfile(depth=1)


class SceneMirrorNode(Node):
    def __init__(self) -> None:
        super().__init__("scene_mirror_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        model_file = str(param("model_file", "", "The MJCF mujoco_ros2_control simulates (sim_mjcf prints it)"))
        self.camera_fps = float(param("camera_fps", 15.0, "Camera frames per simulated second"))
        cameras = list(param("cameras", ["image.wrist", "image.exterior"], "Cameras to render and publish"))
        width = int(param("camera_width", 320, "Camera image width in pixels"))
        height = int(param("camera_height", 240, "Camera image height in pixels"))
        quality = str(param("render_quality", "fast", "fast (no shadows or multisampling) or default"))
        self.seed = int(param("seed", 0, "Seed of the first scene"))
        reset_world = str(param("reset_world_service", "/mujoco_ros2_control_node/reset_world",
                                "mujoco_ros2_control's world reset service"))
        arm_topic = str(param("arm_trajectory_topic", "/arm_controller/joint_trajectory",
                              "The arm's joint_trajectory_controller, homed before a reset"))
        gripper_topic = str(param("gripper_command_topic", "/gripper_controller/commands",
                                  "The gripper's position controller, opened before a reset"))
        relay_topic = str(param("clock_relay_topic", "/sim/clock", "Where the simulator's /clock is relayed"))
        relay_rate = float(param("clock_relay_rate", 100.0, "Relayed clock messages per simulated second"))
        if not Path(model_file).is_file():
            raise ParameterError(f"parameter model_file must name the simulated MJCF, got {model_file!r}")
        if not self.camera_fps > 0:
            raise ParameterError(f"parameter camera_fps must be positive, got {self.camera_fps}")
        if not relay_rate > 0:
            raise ParameterError(f"parameter clock_relay_rate must be positive, got {relay_rate}")
        try:
            self.mirror = SceneMirror(Path(model_file), camera_size=(width, height), cameras=cameras,
                                      render_quality=quality)
        except ValueError as e:
            raise ParameterError(f"cannot mirror the scene (cameras, camera_width/height, render_quality): {e}") \
                from None
        self.cameras = cameras
        self.size = (width, height)
        self.fovy = {c: float(self.mirror.model.cam_fovy[self.mirror.model.camera(scene.CAMERAS[c][0]).id])
                     for c in cameras}
        self._stamp = None
        #: Simulated time from /clock, and when the next frame and the next relayed clock are due in it.
        self.sim_ns: int | None = None
        self._frame_ns, self._relay_ns = round(1e9 / self.camera_fps), round(1e9 / relay_rate)
        self._next_frame_ns = self._next_relay_ns = 0
        # After a reset, cube poses count from the first that show the cubes where the reset put them.
        self.gate = PlacementGate()
        self.velocities = BodyVelocities()

        self.topics = SceneTopics(self, cameras, simulation_statics(quality, (width, height)))
        self.arm_pub = self.create_publisher(JointTrajectory, arm_topic, 10)
        self.gripper_pub = self.create_publisher(Float64MultiArray, gripper_topic, 10)
        self.clock_pub = self.create_publisher(Clock, relay_topic, 10)
        self.create_subscription(Clock, "/clock", self._on_clock, _NEWEST)
        self.create_subscription(JointState, "/mujoco_actuators_states", self._on_joints, _NEWEST)
        self.create_subscription(FreeJointStateArray, "/sim/free_joint_states", self._on_cubes, _NEWEST)
        # One thread (the renderer's GL context is bound to it). The reset awaits mujoco_ros2_control's service as
        # a coroutine; a callback group of its own each keeps the pending reset from blocking the answer it awaits
        # and the subscriptions.
        self.reset_client = self.create_client(ResetWorld, reset_world,
                                               callback_group=MutuallyExclusiveCallbackGroup())
        self.create_service(ResetEpisode, "/sim/reset", self._on_reset,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"mirroring {model_file}, cameras {cameras} at {self.camera_fps} Hz, /clock relayed "
                               f"to {relay_topic} at {relay_rate:g} Hz")

    def _on_clock(self, msg: Clock) -> None:
        now = conversions.stamp_to_ns(msg.clock)
        if self.sim_ns is not None and now < self.sim_ns:
            self._next_frame_ns = self._next_relay_ns = now  # the world reset restarted simulated time
        self.sim_ns = now
        if now >= self._next_relay_ns:
            self._next_relay_ns = now + self._relay_ns
            self.clock_pub.publish(msg)
        if now >= self._next_frame_ns:
            self._next_frame_ns = now + self._frame_ns
            self._render()

    def _on_joints(self, msg: JointState) -> None:
        self.mirror.set_joints(msg.name, msg.position)

    def _on_cubes(self, msg: FreeJointStateArray) -> None:
        cubes = {}
        for cube in msg.free_joints:
            pose = cube.pose.pose
            cubes[cube.name] = np.array([pose.position.x, pose.position.y, pose.position.z, pose.orientation.w,
                                         pose.orientation.x, pose.orientation.y, pose.orientation.z])
        stamp_ns = conversions.stamp_to_ns(msg.header.stamp)
        seen = self.gate.check({name: pose7[:3] for name, pose7 in cubes.items()}, stamp_ns)
        if seen is Poses.STALE:
            return
        if seen is Poses.FIRST:
            self.velocities.reset()
        for cube in msg.free_joints:
            twist = cube.twist.twist.linear
            velocity = self.velocities.velocity(cube.name, cubes[cube.name][:3], stamp_ns,
                                                np.array([twist.x, twist.y, twist.z]))
            self.mirror.set_body(cube.name, cubes[cube.name], velocity)
        self.mirror.update()
        if seen is Poses.FIRST:
            self.mirror.start_episode()
        self._stamp = msg.header.stamp
        ee = conversions.pose7_to_msg(self.mirror.ee_pose, self._stamp)
        self.topics.ee.publish(ee)
        self.topics.grip.publish(Float32(data=self.mirror.grip))
        for name, value in self.mirror.observers().items():
            self.topics.observers[name].publish(Float32(data=float(value)))
        for key, pose in self.mirror.privileged_state().items():
            self.topics.boxes[key].publish(conversions.pose7_to_msg(pose, self._stamp))

    def _render(self) -> None:
        if self._stamp is None:
            return
        stamp = self._stamp
        self.topics.ee_path.header.stamp = stamp
        self.topics.ee_path.poses.append(conversions.pose7_to_msg(self.mirror.ee_pose, stamp))
        self.topics.path.publish(self.topics.ee_path)
        for name, frame in self.mirror.render(self.cameras).items():
            image = conversions.array_to_image(frame, stamp, f"camera_{name.removeprefix('image.')}")
            self.topics.images[name].publish(image)
            self.topics.infos[name].publish(camera_info(self.size[0], self.size[1], self.fovy[name], stamp,
                                                     image.header.frame_id))

    async def _on_reset(self, request: ResetEpisode.Request,
                        response: ResetEpisode.Response) -> ResetEpisode.Response:
        seed = int(request.seed) if request.seed >= 0 else self.seed + 1
        # Home the controllers first: the world reset moves the joints, and an active controller would pull them
        # back to its last command.
        home = JointTrajectory(joint_names=list(control_scene.JOINTS))
        home.points = [JointTrajectoryPoint(positions=[float(q) for q in HOME_Q],
                                            time_from_start=Duration(nanosec=int(_HOME_IN_S * 1e9)))]
        self.arm_pub.publish(home)
        self.gripper_pub.publish(Float64MultiArray(data=[0.0]))
        world = ResetWorld.Request(keyframe=control_scene.HOME_KEY)
        placements = dict(zip((scene.RED_BOX, scene.GREEN_BOX), place_cubes(np.random.default_rng(seed)),
                              strict=True))
        for body, placement in placements.items():
            cube = FreeJointState(name=body)
            cube.pose.pose.position.x, cube.pose.pose.position.y = placement.x, placement.y
            cube.pose.pose.position.z = scene.TABLE_TOP_Z + scene.BOX_HALF_EXTENTS[2] + _DROP_GAP
            w, x, y, z = placement.quat_wxyz()
            cube.pose.pose.orientation.w, cube.pose.pose.orientation.x = float(w), float(x)
            cube.pose.pose.orientation.y, cube.pose.pose.orientation.z = float(y), float(z)
            world.state_overrides.free_joints.append(cube)
        if not self.reset_client.service_is_ready():
            response.success, response.message = False, f"{self.reset_client.srv_name} is not available"
            return response
        result = await self.reset_client.call_async(world)
        if not result.success:
            response.success, response.message = False, f"world reset failed: {result.message}"
            return response
        self.seed = seed
        self.topics.ee_path.poses = []
        self.gate.expect(placements, _PLACED_WITHIN_NS)
        response.success, response.message = True, f"scene reset with seed {seed}"
        return response

    def destroy_node(self) -> None:
        self.mirror.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    spin(SceneMirrorNode, args)
