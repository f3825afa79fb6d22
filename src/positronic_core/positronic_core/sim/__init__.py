"""MuJoCo simulator of the stack-cubes task (ROS-free).

`gl_backend` is imported first on purpose: it must choose MUJOCO_GL before anything imports `mujoco`.
"""

from positronic_core.sim import gl_backend  # noqa: F401  (import order matters, see above)
from positronic_core.sim.stack_cubes import StackCubesSim

__all__ = ["StackCubesSim"]
