"""`gripper_node`: the Franka Hand as the policy node sees a gripper: `/gripper/command` (Float32 target grip, 0 open
to 1 closed) in, `/gripper/state` (Float32 grip) out.

On the real arm it drives franka_gripper (`<gripper>/grasp` to close, `<gripper>/move` to open, franka_msgs
actions, one goal per crossing of the threshold: `positronic_core.robot.gripper`) and reads the finger width from
`<gripper>/joint_states`. With `fake:=true` (ros2_control fake hardware, no robot) it is the mock gripper itself:
its two finger joints move towards each goal at `speed` and are published on `<gripper>/joint_states`, as
franka_gripper would publish them.
"""

from __future__ import annotations

from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32

from positronic_core.robot.gripper import GripLatch, grip_from_width
from positronic_ros.node_main import ParameterError, declare, spin


class GripperNode(Node):
    def __init__(self) -> None:
        super().__init__("gripper_node")

        def param(name: str, default: object, description: str) -> object:
            return declare(self, name, default, description)

        self.ns = str(param("gripper", "/franka_gripper", "franka_gripper's namespace (its actions and joint_states)"))
        self.fake = bool(param("fake", False, "Be a mock gripper (fake hardware) instead of driving franka_gripper"))
        self.max_width = float(param("max_width", 0.08, "Finger opening of a fully open gripper (m)"))
        self.speed = float(param("speed", 0.1, "Finger speed of move and grasp goals (m/s)"))
        self.force = float(param("grasp_force", 20.0, "Grasp force (N)"))
        self.epsilon = float(param("grasp_epsilon", 0.08, "Grasp tolerance either side of width 0 (m): any "
                                                          "object between the fingers counts as grasped"))
        rate = float(param("state_rate", 30.0, "fake: finger joint states per second"))
        joints = list(param("finger_joints", ["fr3_finger_joint1", "fr3_finger_joint2"], "fake: finger joints"))
        if self.max_width <= 0 or self.speed <= 0 or rate <= 0:
            raise ParameterError("parameters max_width, speed and state_rate must be positive")
        self.latch = GripLatch()
        self.state_pub = self.create_publisher(Float32, "/gripper/state", 10)
        self.create_subscription(Float32, "/gripper/command", self._on_command, 10)
        if self.fake:
            self.finger_joints = joints
            self.width = self.max_width
            self.target_width = self.max_width
            self.fingers_pub = self.create_publisher(JointState, f"{self.ns}/joint_states", 10)
            self.dt = 1.0 / rate
            self.create_timer(self.dt, self._step_fake)
        else:
            from franka_msgs.action import Grasp, Move

            self.Grasp, self.Move = Grasp, Move
            self.grasp = ActionClient(self, Grasp, f"{self.ns}/grasp")
            self.move = ActionClient(self, Move, f"{self.ns}/move")
            self.create_subscription(JointState, f"{self.ns}/joint_states", self._on_fingers, 10)
            self._warned = False
        self.get_logger().info(f"gripper {'mock (fake hardware)' if self.fake else 'franka_gripper at ' + self.ns}")

    def _on_command(self, msg: Float32) -> None:
        goal = self.latch.goal(float(msg.data))
        if goal is None:
            return
        if self.fake:
            self.target_width = 0.0 if goal == "close" else self.max_width
            return
        client = self.grasp if goal == "close" else self.move
        if not client.server_is_ready():
            if not self._warned:
                name = f"{self.ns}/{'grasp' if goal == 'close' else 'move'}"
                self.get_logger().error(f"{name} is not available: the gripper does not move")
                self._warned = True
            self.latch.current = None  # sent again at the next command
            return
        if goal == "close":
            request = self.Grasp.Goal(width=0.0, speed=self.speed, force=self.force)
            request.epsilon.inner = self.epsilon
            request.epsilon.outer = self.epsilon
        else:
            request = self.Move.Goal(width=self.max_width, speed=self.speed)
        client.send_goal_async(request)

    def _on_fingers(self, msg: JointState) -> None:
        self.state_pub.publish(Float32(data=grip_from_width(float(sum(msg.position)), self.max_width)))

    def _step_fake(self) -> None:
        step = self.speed * self.dt
        self.width += max(-step, min(step, self.target_width - self.width))
        fingers = JointState(name=self.finger_joints, position=[self.width / 2] * 2, velocity=[0.0, 0.0])
        fingers.header.stamp = self.get_clock().now().to_msg()
        self.fingers_pub.publish(fingers)
        self.state_pub.publish(Float32(data=grip_from_width(self.width, self.max_width)))


def main(args: list[str] | None = None) -> None:
    spin(GripperNode, args)
