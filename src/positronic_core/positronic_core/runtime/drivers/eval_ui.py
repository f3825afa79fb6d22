"""The `eval_ui` driver: an operator runs evaluation episodes from a DearPyGui console.

The rules (states, outcomes, item counts, the time cap, what Submit and Cancel leave on disk) are the GUI-free
`EvalSession` (`positronic_core.runtime.eval_session`); this driver builds one over the runtime and opens the console
(`positronic_core.runtime.gui.eval_console`) on it. DearPyGui is imported only then, so choosing another driver, or
reading this one's arguments, never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from positronic_core.runtime.eval_session import EvalSession
from positronic_core.runtime.sim_runtime import SimRuntime
from positronic_core.stacking_task import TASK

EVAL_TASKS = (
    TASK,
    "Pick up the red cube and place it on the green cube.",
    "Pick up the green cube and lift it above the table.",
)


class EvalUIDriver:
    """A DearPyGui evaluation console: start episodes, stop them with an outcome, record a verdict.

    Args:
        time_cap: simulated seconds after which a running episode stops itself with "Ran out of time".
        tasks: instructions offered in the task list (the first is preselected); "Other" takes free text.
        realtime: pace running episodes to the wall clock (False runs them as fast as the CPU allows).
    """

    def __init__(self, time_cap: float = 60.0, tasks: Sequence[str] = EVAL_TASKS, realtime: bool = True) -> None:
        if not float(time_cap) > 0:
            raise ValueError(f"--driver.time_cap must be positive, got {time_cap}")
        if isinstance(tasks, str):
            tasks = (tasks,)
        cleaned = [str(task).strip() for task in tasks]
        cleaned = [task for i, task in enumerate(cleaned) if task and task not in cleaned[:i]]
        if not cleaned:
            raise ValueError("--driver.tasks needs at least one non-empty task")
        self.time_cap = float(time_cap)
        self.tasks = tuple(cleaned)
        self.realtime = bool(realtime)

    def preflight(self) -> None:
        """Exit with the reason, before a simulator is built, if the console cannot open."""
        from positronic_core.runtime.gui import require_display

        require_display("the eval_ui driver")

    def run(self, runtime: SimRuntime) -> None:
        self.preflight()
        from positronic_core.runtime.gui.eval_console import EvalConsole

        session = EvalSession(runtime, time_cap=self.time_cap, realtime=self.realtime)
        console = EvalConsole(session, tasks=self.tasks)
        try:
            console.run()
        finally:
            console.close()
            discarded = session.close()
            if discarded is not None:
                print(f"episode {discarded.index} discarded: the console closed before its verdict was submitted",
                      flush=True)
