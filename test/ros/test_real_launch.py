"""`real.launch.py use_fake_hardware:=true` end to end with no robot: franka_description's FR3 on ros2_control's
mock hardware, the controllers of config/controllers.yaml (shared with the simulator), the mock gripper, a camera
that is any Image publisher (this test's, on a topic of its own, remapped by `cameras:=`), and a joint-moving model
on a protocol v1 server. An episode is started by service, the arm moves under the policy's chunk trajectories (seen
in /joint_states from the joint_state_broadcaster), the operator holds and resumes it, and the saved episode is a
Positronic dataset holding the arm's motion, the camera, the commands and the hold. Also: the controllers the launch
starts are installed plugins."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ros_session
import yaml
from ros_client import RosClient

pytestmark = [pytest.mark.full_ros, pytest.mark.timeout(400)]

CONTROL = Path("/opt/ros/jazzy-control")
ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "test" / "support" / "joint_sweep_server.py"
CAMERA_TOPIC = "/test_camera/color/image_raw"
TASK = "sweep joint one"


@pytest.fixture(scope="module", autouse=True)
def control_stack():
    from positronic_core.cli import real_arm

    missing = real_arm.missing_ros(os.environ)
    if missing:
        pytest.skip(f"needs ros2_control, ros2_controllers and franka_ros2 (the control overlay at {CONTROL}, "
                    f"sourced): missing {'; '.join(missing)}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Operator(RosClient):
    """The person at the robot: a camera publisher, service calls and a /joint_states listener."""

    def __init__(self):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image, JointState

        super().__init__("test_operator")
        self.joints = []
        self.node.create_subscription(JointState, "/joint_states", self.joints.append, 50)
        camera = self.node.create_publisher(Image, CAMERA_TOPIC, qos_profile_sensor_data)
        pixels = np.zeros((48, 64, 3), np.uint8)
        pixels[:, :32, 1] = 200

        def publish_frame():
            frame = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=pixels.tobytes())
            frame.header.stamp = self.node.get_clock().now().to_msg()
            camera.publish(frame)

        self.node.create_timer(1 / 15, publish_frame)

    def joint1(self):
        msg = self.joints[-1]
        return msg.position[list(msg.name).index("fr3_joint1")]


@pytest.fixture()
def launched(tmp_path, no_process_left):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log = open(tmp_path / "launch.log", "w")
    server = subprocess.Popen([sys.executable, str(SWEEP), str(port)], stdout=log, stderr=subprocess.STDOUT)
    proc = subprocess.Popen(
        ["ros2", "launch", "positronic_bringup", "real.launch.py", "use_fake_hardware:=true", f"port:={port}",
         f"output_dir:={tmp_path}", f"cameras:=wrist={CAMERA_TOPIC}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield tmp_path
    finally:
        ros_session.stop_launch(proc, timeout=45)
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_fake_hardware_episode_moves_the_arm_holds_on_request_and_records_a_dataset(launched):
    from std_srvs.srv import Trigger

    from positronic_core.dataset.reader import Dataset
    from positronic_interfaces.srv import StartEpisode, StopEpisode

    out = launched
    operator = Operator()
    try:
        operator.spin_until(lambda: operator.joints, 120, "/joint_states from the joint_state_broadcaster")
        # Ready as a user would check: the recorder and the policy both listen to the camera, and the recorder to
        # the policy's timeline (it subscribes once it sees a topic, and an episode's first samples would be lost).
        node = operator.node
        operator.spin_until(lambda: node.count_subscribers(CAMERA_TOPIC) >= 2
                            and node.count_subscribers("/policy/timeline") >= 1, 60, "policy and recorder")
        start_q1 = operator.joint1()
        started = operator.call_until_ready("/episode/start", StartEpisode, ("not up yet",), task=TASK)
        assert started.success, started.message
        operator.spin_until(lambda: operator.joint1() > start_q1 + 0.1, 60, "the policy moving fr3_joint1")

        assert operator.call("/policy/hold", Trigger).success
        # The hold is sent at once (test_safety_services times it); the controller then takes its tick to reach the
        # measured joints, plus a joint-state period, plus the lag of a loaded machine.
        operator.spin_for(0.6)
        held_at = operator.joint1()
        operator.spin_for(1.0)
        assert abs(operator.joint1() - held_at) < 1e-3, "the arm moved while held"
        assert operator.call("/policy/resume", Trigger).success
        operator.spin_until(lambda: operator.joint1() > held_at + 0.05, 30, "the policy driving again")

        stopped = operator.call("/episode/stop", StopEpisode, save=True, outcome="success")
        assert stopped.success, stopped.message
        # The end of an episode holds the arm at once: the rest of the last chunk's trajectory is not played.
        operator.spin_for(0.6)
        stopped_at = operator.joint1()
        operator.spin_for(1.0)
        assert abs(operator.joint1() - stopped_at) < 1e-3, "the arm moved on after the episode stopped"
        dataset = out / "dataset"
        operator.spin_until(lambda: dataset.is_dir() and len(list(Dataset(dataset))) == 1, 120,
                            "the converted episode")
    finally:
        operator.close()

    episode = Dataset(dataset)[0]
    assert episode.static["task"] == TASK and episode.static["eval.outcome"] == "success"
    q = np.asarray(episode.signal("robot_state.q").values)
    assert q.shape[1] == 7 and q[:, 0].max() - q[:, 0].min() > 0.15
    for name in ("robot_state.ee_pose", "grip", "target_grip", "robot_commands.joints", "image.wrist"):
        assert name in episode.signal_names, name
    holds = list(episode.signal("safety.hold").values)
    # The operator's hold, then its release (to 0, or to another hold's code: on a loaded machine the joint states
    # can come late enough for a stale-state hold, which is the guard doing its job).
    assert 1 in holds and any(code != 1 for code in holds[holds.index(1) + 1:]), holds


def test_launch_files_name_what_the_installed_controllers_have():
    """The controllers real.launch.py spawns are declared in config/controllers.yaml with plugins the installed
    ros2_controllers and franka_ros2 provide, and its camera argument parses as documented."""
    import importlib.util

    controllers = yaml.safe_load((ROOT / "config" / "controllers.yaml").read_text())
    spec = importlib.util.spec_from_file_location("real_launch", ROOT / "launch" / "real.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    # Every pluginlib description the overlay installs (package.xml files aside).
    plugins = " ".join(path.read_text() for path in (CONTROL / "share").glob("*/*.xml") if path.name != "package.xml")
    for name, kind in [(n, controllers[n]["ros__parameters"]["type"]) for n in launch.CONTROLLERS] + \
            [launch.FRANKA_STATE_BROADCASTER]:
        assert f'class name="{kind}"' in plugins, f"{name}: {kind} is not installed"
    assert controllers[launch.TRAJECTORY_CONTROLLER]["ros__parameters"]["type"] == \
        "joint_trajectory_controller/JointTrajectoryController"
    assert launch.parse_cameras("wrist=/a/image_raw, image.exterior=/b") == [("wrist", "/a/image_raw"),
                                                                           ("exterior", "/b")]
    with pytest.raises(ValueError, match="not name=/topic"):
        launch.parse_cameras("wrist")


def test_controllers_that_fail_to_start_stop_the_launch_saying_so(tmp_path, no_process_left):
    """A spawner that fails (here: a controller type nobody installed) ends the whole launch with one line naming the
    controllers, instead of leaving a policy and a recorder running on an arm that reports no joints."""
    controllers = yaml.safe_load((ROOT / "config" / "controllers.yaml").read_text())
    controllers["arm_controller"]["ros__parameters"]["type"] = "no_such_controllers/NoSuchController"
    broken = tmp_path / "controllers.yaml"
    broken.write_text(yaml.safe_dump(controllers))
    proc = subprocess.Popen(
        ["ros2", "launch", "positronic_bringup", "real.launch.py", "use_fake_hardware:=true", "record:=false",
         f"controllers:={broken}", f"output_dir:={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise AssertionError(f"the launch went on after its controllers failed:\n{output[-3000:]}") from None
    assert "the controllers joint_state_broadcaster, arm_controller did not start" in output, output[-3000:]
