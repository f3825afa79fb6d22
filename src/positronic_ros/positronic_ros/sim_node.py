"""`sim_node`: the MuJoCo cube-stacking simulator as a ROS robot.

Publishes `/joint_states`, `/ee_pose`, `/gripper/state`, `/camera/<name>/image_raw` + `camera_info`, the stacking
observers and the cubes' poses (privileged, for the scripted expert), and `/clock`: simulated time, so nodes with
`use_sim_time` run on the simulator's clock even when rendering makes it slower than real time. Executes
`/command/pose` (PoseStamped, through IK), `/command/joint_trajectory` (first point) and `/gripper/command`.
`/sim/reset` (positronic_interfaces/ResetEpisode) re-homes the arm and re-randomises the cubes from a seed.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32
from trajectory_msgs.msg import JointTrajectory

from positronic_core.geometry import pose7_to_pose12
from positronic_core.robot.commands import Action, CartesianPosition
from positronic_core.runtime.run_statics import simulation_statics
from positronic_core.sim.scene import CAMERAS
from positronic_core.sim.stack_cubes import StackCubesSim
from positronic_interfaces.srv import ResetEpisode
from positronic_ros import conversions
from positronic_ros.node_main import ParameterError, declare, spin
from positronic_ros.scene_topics import SceneTopics, camera_info


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        self.state_rate = float(param("state_rate", 60.0, "Physics updates (and state messages) per simulated second"))
        self.camera_fps = float(param("camera_fps", 15.0, "Camera frames per simulated second"))
        self.real_time_factor = float(param("real_time_factor", 1.0,
                                            "Target simulated seconds per wall second (rendering may lower it)"))
        cameras = list(param("cameras", ["image.wrist", "image.exterior"], "Cameras to render and publish"))
        width = int(param("camera_width", 320, "Camera image width in pixels"))
        height = int(param("camera_height", 240, "Camera image height in pixels"))
        quality = str(param("render_quality", "fast", "fast (no shadows or multisampling) or default"))
        self.seed = int(param("seed", 0, "Seed of the first scene"))

        if not (self.state_rate > 0 and self.camera_fps > 0 and self.real_time_factor > 0):
            raise ParameterError("parameters state_rate, camera_fps and real_time_factor must be positive, got "
                                 f"{self.state_rate}, {self.camera_fps}, {self.real_time_factor}")
        try:
            self.sim = StackCubesSim(camera_size=(width, height), cameras=tuple(cameras), render_quality=quality)
        except ValueError as e:
            raise ParameterError(f"cannot build the simulator (cameras, camera_width/height, render_quality): {e}") \
                from None
        self.sim.reset(self.seed)
        self.cameras = cameras
        self.fovy = {c: float(self.sim.model.cam_fovy[self.sim.model.camera(CAMERAS[c][0]).id]) for c in cameras}
        self.size = (width, height)
        self.sim_time_ns = 0
        self._steps = 0
        self._grip = 0.0
        self._command = None

        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.joint_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.topics = SceneTopics(self, cameras, simulation_statics(quality, (width, height)))
        self.create_subscription(PoseStamped, "/command/pose", self._on_pose, 10)
        self.create_subscription(JointTrajectory, "/command/joint_trajectory", self._on_trajectory, 10)
        self.create_subscription(Float32, "/gripper/command", self._on_grip, 10)
        self.create_service(ResetEpisode, "/sim/reset", self._on_reset)
        self.create_timer(1.0 / (self.state_rate * self.real_time_factor), self._step)
        self.get_logger().info(f"simulating at {self.state_rate:.0f} Hz, cameras {cameras} at {self.camera_fps} Hz")

    def _apply(self) -> None:
        if self._command is not None:
            self.sim.apply(Action(self._command, self._grip))

    def _on_pose(self, msg: PoseStamped) -> None:
        self._command = conversions.pose_msg_to_command(msg)
        self._apply()

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            self._command = conversions.trajectory_to_command(msg)
        except ValueError as e:
            self.get_logger().error(f"ignoring trajectory: {e}")
            return
        self._apply()

    def _on_grip(self, msg: Float32) -> None:
        self._grip = min(1.0, max(0.0, float(msg.data)))
        if self._command is None:
            state = self.sim.robot_state()
            self._command = CartesianPosition(pose7_to_pose12(state["robot_state.ee_pose"]))
        self._apply()

    def _on_reset(self, request: ResetEpisode.Request, response: ResetEpisode.Response) -> ResetEpisode.Response:
        self.seed = int(request.seed) if request.seed >= 0 else self.seed + 1
        self.sim.reset(self.seed)
        self.topics.ee_path.poses = []
        self._command = None
        self._grip = 0.0
        response.success = True
        response.message = f"scene reset with seed {self.seed}"
        return response

    def _step(self) -> None:
        dt = 1.0 / self.state_rate
        self.sim.advance(dt)
        self._steps += 1
        self.sim_time_ns = int(round(self._steps * dt * 1e9))
        stamp = conversions.ns_to_stamp(self.sim_time_ns)
        self.clock_pub.publish(Clock(clock=stamp))
        state = self.sim.robot_state()
        self.joint_pub.publish(conversions.joint_state_msg(state["robot_state.q"], state["robot_state.dq"], stamp))
        ee = conversions.pose7_to_msg(state["robot_state.ee_pose"], stamp)
        self.topics.ee.publish(ee)
        frame_every = max(1, round(self.state_rate / self.camera_fps))
        if self._steps % frame_every == 0:
            # The EE path for rviz: one pose per camera frame, since the last reset.
            self.topics.ee_path.header.stamp = stamp
            self.topics.ee_path.poses.append(ee)
            self.topics.path.publish(self.topics.ee_path)
        self.topics.grip.publish(Float32(data=float(state["grip"])))
        for name, value in self.sim.observers().items():
            self.topics.observers[name].publish(Float32(data=float(value)))
        for key, pose in self.sim.privileged_state().items():
            self.topics.boxes[key].publish(conversions.pose7_to_msg(pose, stamp))
        if self.cameras and self._steps % frame_every == 0:
            for name, frame in self.sim.render(self.cameras).items():
                image = conversions.array_to_image(frame, stamp, f"camera_{name.removeprefix('image.')}")
                self.topics.images[name].publish(image)
                self.topics.infos[name].publish(camera_info(self.size[0], self.size[1], self.fovy[name], stamp,
                                                         image.header.frame_id))

    def destroy_node(self) -> None:
        self.sim.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    spin(SimNode, args)
