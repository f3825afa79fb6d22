"""The timed driver: `num_iterations` episodes of `simulation_time` seconds each, without a human."""

from __future__ import annotations

from typing import Any

from positronic_core.runtime.episode_lifecycle import TimedPlan
from positronic_core.runtime.sim_runtime import SimRuntime
from positronic_core.stacking_task import TASK


class TimedDriver:
    """Runs episodes back to back for a fixed simulated duration.

    Args:
        simulation_time: seconds per episode (simulated time).
        num_iterations: number of episodes.
        task: instruction sent to the policy and recorded as the `task` static.
        show_gui: open the DearPyGui camera viewer while running.
    """

    def __init__(self, simulation_time: float = 15.0, num_iterations: int = 1, task: str = TASK,
                 show_gui: bool = False) -> None:
        if not simulation_time > 0:
            raise ValueError(f"--driver.simulation_time must be positive, got {simulation_time}")
        if int(num_iterations) < 1:
            raise ValueError(f"--driver.num_iterations must be at least 1, got {num_iterations}")
        self.plan = TimedPlan(float(simulation_time), int(num_iterations))
        self.simulation_time = self.plan.duration_s
        self.num_iterations = self.plan.iterations
        self.task = task
        self.show_gui = bool(show_gui)

    def preflight(self) -> None:
        """Exit with the reason, before a simulator is built, if the viewer was asked for and cannot open."""
        if self.show_gui:
            from positronic_core.runtime.gui import require_display

            require_display("--driver.show_gui")

    def run(self, runtime: SimRuntime) -> None:
        viewer = None
        if self.show_gui:
            from positronic_core.runtime.gui import open_viewer

            viewer = open_viewer(runtime.cameras)
        try:
            for _ in range(self.num_iterations):
                if not self.run_episode(runtime, viewer):
                    return
        finally:
            if viewer is not None:
                viewer.close()

    def run_episode(self, runtime: SimRuntime, viewer: Any = None) -> bool:
        """One episode of `simulation_time`, saved; False when the viewer was closed (the run should end)."""
        episode = runtime.start(self.task, {"simulation.total_iterations": self.num_iterations},
                                duration_s=self.simulation_time, total=self.num_iterations)
        while not self.plan.over(episode.now):
            episode.tick()
            if viewer is not None and not viewer.update(runtime.robot, episode):
                episode.stop(save=True, stopped_by_operator=True)  # closed before its simulation_time
                return False
        episode.stop(save=True)
        return True
