"""The same seeded scripted episode recorded in-process and through the four ROS nodes (each its own process, over
real DDS on loopback, in simulated time) gives the same signals, the same statics and the same outcome. Needs rclpy
and rosbags only, so it runs on PyPI's ROS 2 wheels as on a full install."""

import time

import pytest
from ros_session import start_node, stop_processes

from positronic_core.dataset.reader import Dataset
from positronic_core.policy.scripted import ScriptedStackingPolicy
from positronic_core.runtime.drivers.timed import TimedDriver
from positronic_core.runtime.run_statics import simulation_statics
from positronic_core.runtime.sim_runtime import SimRuntime
from positronic_core.sim.stack_cubes import StackCubesSim

pytestmark = pytest.mark.timeout(400)

CAMERAS = ("image.wrist", "image.exterior")  # what config/sim.yaml publishes and records
SIZE = (160, 120)
SECONDS = 12.0
SEED = 3
#: Statics only an in-process run can have: it chooses whether inference time is charged to simulated time, while
#: under ROS the simulator's clock simply runs on during inference.
IN_PROCESS_ONLY = {"inference.simulate_timeout"}


def _record_through_ros(tmp_path):
    dataset = tmp_path / "ros" / "dataset"
    sim_time = "use_sim_time:=true"
    with open(tmp_path / "nodes.log", "w") as log:
        procs = [
            start_node("sim_node", log, f"camera_width:={SIZE[0]}", f"camera_height:={SIZE[1]}", f"seed:={SEED}"),
            start_node("policy_node", log, sim_time),
            start_node("recorder_node", log, sim_time, f"output_dir:={tmp_path / 'ros' / 'bags'}",
                       f"dataset_dir:={dataset}"),
            start_node("episode_driver_node", log, sim_time, "mode:=timed", f"duration:={SECONDS}", "iterations:=1",
                       f"seed:={SEED}", f"dataset_dir:={dataset}"),
        ]
        try:
            deadline = time.monotonic() + 300
            while not list(Dataset(dataset) if dataset.is_dir() else []):
                assert all(p.poll() is None for p in procs), (tmp_path / "nodes.log").read_text()[-4000:]
                assert time.monotonic() < deadline, (tmp_path / "nodes.log").read_text()[-4000:]
                time.sleep(1.0)
        finally:
            stop_processes(procs)
    return next(iter(Dataset(dataset)))


def _record_in_process(tmp_path):
    robot = StackCubesSim(camera_size=SIZE, cameras=CAMERAS)
    try:
        runtime = SimRuntime(robot, ScriptedStackingPolicy(), output_dir=tmp_path / "in_process", cameras=CAMERAS,
                             seed=SEED, statics=simulation_statics("fast", SIZE), out=open("/dev/null", "w"))
        TimedDriver(simulation_time=SECONDS, num_iterations=1).run(runtime)
        runtime.close()
    finally:
        robot.close()
    return next(iter(Dataset(tmp_path / "in_process")))


def test_a_ros_recording_holds_what_an_in_process_one_does(tmp_path, no_process_left):
    ros = _record_through_ros(tmp_path)
    local = _record_in_process(tmp_path)

    assert set(local.signal_names) <= set(ros.signal_names), set(local.signal_names) - set(ros.signal_names)
    assert set(local.static) - IN_PROCESS_ONLY <= set(ros.static), set(local.static) - set(ros.static)
    for key in ("task", "simulation.seed", "simulation.render_quality", "simulation.camera_size",
                "inference.policy.type", "inference.policy_fps", "simulation.total_iterations"):
        assert ros.static[key] == local.static[key], key
    assert local.static["eval.auto_success"] is True
    assert ros.static["eval.auto_success"] is True
    assert ros.static["inference.requests"] > 0 and len(ros.signal("inference.chunk").timestamps) > 0
