"""Installs the workspace's top-level launch/ and config/ into share/positronic_bringup/."""

from glob import glob
from pathlib import Path

from setuptools import setup

PACKAGE = "positronic_bringup"
HERE = Path(__file__).resolve().parent
# setuptools wants data_files relative to this directory; the launch files live at the workspace root.
WORKSPACE = Path("..") / ".."


def files(pattern: str) -> list[str]:
    return sorted(glob(str(WORKSPACE / pattern), root_dir=HERE))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", files("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", files("config/*.yaml") + files("config/*.rviz") + files("config/*.xacro")),
    ],
    install_requires=["setuptools"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="Positronic for ROS 2 developers",
    maintainer_email="dev@positronic-ros.invalid",
    description="Launch files and configuration of Positronic for ROS 2",
    license="Apache-2.0",
)
