"""ament_python entry: metadata lives in pyproject.toml; this adds the files colcon's ament index expects."""

from setuptools import setup

PACKAGE = "positronic_core"

setup(
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
)
