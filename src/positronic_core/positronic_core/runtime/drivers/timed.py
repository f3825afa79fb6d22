"""The timed driver: `num_iterations` episodes of `simulation_time` seconds each, without a human."""

from __future__ import annotations

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
        if simulation_time <= 0:
            raise ValueError(f"--driver.simulation_time must be positive, got {simulation_time}")
        if int(num_iterations) < 1:
            raise ValueError(f"--driver.num_iterations must be at least 1, got {num_iterations}")
        self.simulation_time = float(simulation_time)
        self.num_iterations = int(num_iterations)
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
                episode = runtime.start(self.task, {"simulation.total_iterations": self.num_iterations})
                while episode.now < self.simulation_time - 1e-9:
                    episode.tick()
                    if viewer is not None and not viewer.update(runtime.robot, episode):
                        episode.stop(save=True, stopped_by_operator=True)  # closed before its simulation_time
                        return
                episode.stop(save=True)
        finally:
            if viewer is not None:
                viewer.close()
