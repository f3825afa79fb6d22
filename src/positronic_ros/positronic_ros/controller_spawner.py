"""The controller spawner of our ros2_control launches: patient on a busy machine, and loud when it fails.

controller_manager's spawner gives up after 10 s without a service answer, and a machine starting a dozen nodes on
two cores can take longer; the arm then never gets its controllers while everything else runs on, and an episode
records no /joint_states. Here the spawner waits longer, and its failure stops the launch with one line saying why.
"""

from __future__ import annotations

from launch.actions import EmitEvent, LogInfo, RegisterEventHandler
from launch.condition import Condition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitution import Substitution
from launch_ros.actions import Node

#: Seconds for the controller manager's services to appear, to answer a call, and to switch the controllers on.
PATIENCE = ["--controller-manager-timeout", "120", "--service-call-timeout", "60", "--switch-timeout", "30"]


def controller_spawner(controllers: list[str], param_file: str | Substitution,
                       controller_manager: str = "/controller_manager", condition: Condition | None = None) -> list:
    """The spawner of `controllers` (parameters from `param_file`), and the handler that ends the launch if it fails."""
    spawner = Node(package="controller_manager", executable="spawner", output="screen", condition=condition,
                   arguments=[*controllers, "--param-file", param_file, "--controller-manager", controller_manager,
                              *PATIENCE])

    def on_exit(event, _context) -> list | None:
        if event.returncode == 0:
            return None
        reason = (f"the controllers {', '.join(controllers)} did not start (spawner exit {event.returncode}, its "
                  f"output is above): stopping, since the arm cannot move or report its joints without them")
        return [LogInfo(msg=reason), EmitEvent(event=Shutdown(reason=reason))]

    return [spawner, RegisterEventHandler(OnProcessExit(target_action=spawner, on_exit=on_exit), condition=condition)]
