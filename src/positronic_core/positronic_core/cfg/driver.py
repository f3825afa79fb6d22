"""Episode drivers for `--driver=`: `.timed` (default) and `.keyboard`."""

import configuronic as cfn

from positronic_core.runtime.drivers.keyboard import KeyboardDriver
from positronic_core.runtime.drivers.timed import DEFAULT_TASK, TimedDriver

timed = cfn.Config(TimedDriver, simulation_time=15.0, num_iterations=1, task=DEFAULT_TASK, show_gui=False)
keyboard = cfn.Config(KeyboardDriver, task=DEFAULT_TASK, show_gui=False)
