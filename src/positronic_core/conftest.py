"""Tests never reach a model hub (also when `colcon test` runs them without the workspace's root conftest)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
