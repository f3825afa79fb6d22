"""`ee_pose_node`: `/ee_pose` (PoseStamped) of a ros2_control arm, read from TF (robot_state_publisher over
`/joint_states`), for the policy node and the recording. The simulator publishes `/ee_pose` itself; a real arm's
controller reports only joints."""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.time import Time
from tf2_ros import Buffer, TransformException, TransformListener

from positronic_ros.node_main import ParameterError, declare, spin


class EePoseNode(Node):
    def __init__(self) -> None:
        super().__init__("ee_pose_node")
        self.base = str(declare(self, "base_frame", "fr3_link0", "Frame the pose is given in (the arm's base)"))
        self.ee = str(declare(self, "ee_frame", "fr3_hand_tcp", "End-effector frame (fr3_link8 without a hand)"))
        rate = float(declare(self, "rate", 60.0, "Poses per second"))
        if not rate > 0:
            raise ParameterError(f"parameter rate must be positive, got {rate}")
        self.buffer = Buffer()
        self.listener = TransformListener(self.buffer, self)
        self.pub = self.create_publisher(PoseStamped, "/ee_pose", 10)
        self.create_timer(1.0 / rate, self._publish)
        self._last_stamp = None

    def _publish(self) -> None:
        try:
            tf = self.buffer.lookup_transform(self.base, self.ee, Time())
        except TransformException:
            return  # robot_state_publisher has not published the arm yet
        stamp = (tf.header.stamp.sec, tf.header.stamp.nanosec)
        if stamp == self._last_stamp:
            return  # no new joint state since the last pose
        self._last_stamp = stamp
        msg = PoseStamped()
        msg.header.stamp = tf.header.stamp
        msg.header.frame_id = self.base
        t, r = tf.transform.translation, tf.transform.rotation
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = t.x, t.y, t.z
        msg.pose.orientation = r
        self.pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    spin(EePoseNode, args)
