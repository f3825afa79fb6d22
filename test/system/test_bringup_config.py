"""The bringup configuration agrees with the nodes: rviz2 is not in the minimal ROS build these tests run on, so its
config is checked here as data (it parses, and every topic it shows is one our nodes publish)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "src" / "positronic_ros" / "positronic_ros"


def _published_topics() -> str:
    # The nodes and the modules they publish through (scene_topics.py publishes for two nodes).
    return "".join(p.read_text() for p in NODES.glob("*.py"))


def test_rviz_config_parses_and_shows_topics_our_nodes_publish():
    config = yaml.safe_load((ROOT / "config" / "positronic.rviz").read_text())
    displays = config["Visualization Manager"]["Displays"]
    classes = {d["Class"] for d in displays}
    assert {"rviz_default_plugins/RobotModel", "rviz_default_plugins/Image", "rviz_default_plugins/Path",
            "rviz_default_plugins/Marker"} <= classes
    sources = _published_topics()
    for display in displays:
        topic = display.get("Topic", {}).get("Value") if isinstance(display.get("Topic"), dict) else None
        if topic is None:
            continue
        if topic.startswith("/camera/"):
            name = topic.split("/")[2]
            cameras = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())["sim_node"]["ros__parameters"]
            assert f"image.{name}" in cameras["cameras"], topic
        else:
            assert f'"{topic}"' in sources, f"{topic} is shown in rviz but no node publishes it"


def test_sim_yaml_sets_only_parameters_the_nodes_declare():
    config = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())
    for node, section in config.items():
        source = (NODES / f"{node}.py").read_text()
        for name in section["ros__parameters"]:
            assert f'param("{name}"' in source, f"{node} does not declare {name}"
