"""Episode drivers for `--driver=`: `.timed` (default), `.keyboard` and `.eval_ui`."""

import configuronic as cfn

from positronic_core.runtime.drivers.eval_ui import EVAL_TASKS, EvalUIDriver
from positronic_core.runtime.drivers.keyboard import KeyboardDriver
from positronic_core.runtime.drivers.timed import TimedDriver
from positronic_core.stacking_task import TASK

timed = cfn.Config(TimedDriver, simulation_time=15.0, num_iterations=1, task=TASK, show_gui=False)
keyboard = cfn.Config(KeyboardDriver, task=TASK, show_gui=False)
eval_ui = cfn.Config(EvalUIDriver, time_cap=60.0, tasks=EVAL_TASKS, realtime=True)
