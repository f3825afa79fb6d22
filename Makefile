# The README's two commands: `make sim` (the main job) and `make test` (every test). `make bench` runs benchmarks.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
UPSTREAM := .venv-upstream
CORE := src/positronic_core
ROS_SETUP := /opt/ros/jazzy/setup.bash
RECORDINGS ?= recordings/sim
SIM_FLAGS ?=
# Debian packages the tests drive: a virtual screen for the DearPyGui consoles, Chromium for the review page,
# OSMesa as the software-GL fallback when EGL is unavailable.
SYSTEM_PACKAGES := xvfb xauth chromium libosmesa6 libegl1 libgl1

export MUJOCO_GL ?= egl
export HF_HUB_OFFLINE := 1

.PHONY: sim test bench lint system-deps colcon clean

# The simulated evaluation needs no torch: only the core, the simulator and the GUI extras (DearPyGui, one wheel,
# for --driver=.eval_ui and --driver.show_gui=True; they still need a display). gym-hil carries MuJoCo Menagerie's
# Panda offline; it pins an older MuJoCo, so only its files are taken (--no-deps).
$(VENV)/.core-installed: $(CORE)/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e "$(CORE)[sim,gui]"
	$(PIP) install --no-deps gym-hil==0.1.14
	touch $@

# Tests add torch 2.14.1 + torchvision 0.29.1 (local wheels) and LeRobot 0.4.4. Every LeRobot release pins an older
# torch, so LeRobot goes in with --no-deps after its own requirements (the `act` extra). openpi-client pins
# numpy<2 but works on numpy 2, so it too goes in with --no-deps.
$(VENV)/.test-installed: $(VENV)/.core-installed
	$(PIP) install -e "$(CORE)[sim,act,gui,dev,bags]"
	$(PIP) install --no-deps lerobot==0.4.4 openpi-client==0.1.2
	touch $@

# Upstream Positronic 0.2.1 is the interoperability peer (its client, server and dataset reader). It lives in its
# own venv because it needs mujoco 3.17 and an older websockets.
$(UPSTREAM)/.installed:
	test -x $(UPSTREAM)/bin/python || $(PYTHON) -m venv $(UPSTREAM)
	$(UPSTREAM)/bin/pip -q --disable-pip-version-check install positronic==0.2.1 mujoco==3.17.0
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

# With ROS 2 Jazzy at $(ROS_SETUP) the whole workspace builds (interfaces included) against the venv's Python;
# without it, only the ament_python packages, which need no ROS to build.
colcon: $(VENV)/.test-installed
	@if [ -f $(ROS_SETUP) ]; then \
		source $(ROS_SETUP); $(PIP) install "empy==3.3.4" lark catkin_pkg; skip=""; \
	else \
		echo "ROS 2 not found at $(ROS_SETUP): building the ament_python packages only"; \
		skip="--packages-skip positronic_interfaces"; \
	fi; \
	$(VENV)/bin/colcon --log-base log build --base-paths src --build-base build --install-base install \
		--event-handlers console_direct- $$skip --cmake-args -DPython3_EXECUTABLE=$(abspath $(PY)) \
		-DBUILD_TESTING=OFF >/dev/null

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .

# With ROS sourced, install/ puts copies of our Python packages on PYTHONPATH; the sources go first so the tests
# always test the working tree (positronic_interfaces, which is generated, still comes from install/).
test: system-deps $(VENV)/.test-installed $(UPSTREAM)/.installed colcon lint
	if [ -f $(ROS_SETUP) ]; then \
		source $(ROS_SETUP); source install/setup.bash; \
		export PYTHONPATH=$(CURDIR)/src/positronic_core:$(CURDIR)/src/positronic_ros:$$PYTHONPATH; \
	fi; \
	$(PY) -m pytest $(PYTEST_FLAGS)

bench: $(VENV)/.test-installed $(UPSTREAM)/.installed
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build install log
