"""Episode drivers for `--driver=`: `.timed` (default), `.keyboard` and `.eval_ui`."""

import configuronic as cfn

from positronic_core.runtime.drivers.eval_ui import EVAL_TASKS, EvalUIDriver
from positronic_core.runtime.drivers.keyboard import KeyboardDriver
from positronic_core.runtime.drivers.timed import DEFAULT_TASK, TimedDriver

timed = cfn.Config(TimedDriver, simulation_time=15.0, num_iterations=1, task=DEFAULT_TASK, show_gui=False)
keyboard = cfn.Config(KeyboardDriver, task=DEFAULT_TASK, show_gui=False)
eval_ui = cfn.Config(EvalUIDriver, time_cap=60.0, tasks=EVAL_TASKS, realtime=True)
