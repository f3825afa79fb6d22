from setuptools import setup

PACKAGE = "positronic_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="Positronic for ROS 2 developers",
    maintainer_email="dev@positronic-ros.invalid",
    description="rclpy nodes of Positronic for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"sim_node = {PACKAGE}.sim_node:main",
            f"policy_node = {PACKAGE}.policy_node:main",
            f"episode_driver_node = {PACKAGE}.episode_driver_node:main",
            f"recorder_node = {PACKAGE}.recorder_node:main",
            f"bag2dataset = {PACKAGE}.bag2dataset:main",
            f"sim_urdf = {PACKAGE}.sim_urdf:main",
            f"gripper_node = {PACKAGE}.gripper_node:main",
            f"ee_pose_node = {PACKAGE}.ee_pose_node:main",
            f"sim_mjcf = {PACKAGE}.sim_mjcf:main",
            f"scene_mirror_node = {PACKAGE}.scene_mirror_node:main",
        ],
    },
)
