"""Reading an upstream 0.4.x client stack: what runs, how a chunk is timed and decoded, and what is refused.

The stacks are written as 0.4.1's `positronic_model_server.spec.component` writes them (`version` "latest" unless
pinned, `args` always present); `test/interop/upstream04_server_test.py` runs the same against 0.4.1's servers.
"""

import numpy as np
import pytest

from positronic_core.policy.declared_stack import UnsupportedStack, read_stack
from positronic_core.robot.commands import CartesianPosition, JointPosition


def component(name, version="latest", **args):
    return {"name": name, "version": version, "args": args}


def ee_stack(**schedule):
    return {"seq": [component("chunked_schedule", fps=10.0, **schedule), {"par": [
        component("select_observation_fields", mapping={"pose": "robot_state.ee_pose", "grip": "grip"}),
        component("absolute_position_action", tgt_ee_pose_key="robot_command.pose", tgt_grip_key="target_grip")]},
        component("split_action_chunk")]}


def test_an_absolute_ee_stack_encodes_the_model_input_and_times_its_chunk():
    spec = ee_stack()
    spec["seq"].insert(1, component("metadata", values={"embodiment": "franka"}))
    stack = read_stack({"local_stack": spec}, "protocol v3")
    assert stack.components == ["chunked_schedule v3", "metadata v1", "select_observation_fields v1",
                                "absolute_position_action v1", "split_action_chunk v1"]
    assert stack.meta == {"embodiment": "franka", "action_fps": 10.0}
    observation = {"robot_state.ee_pose": np.array([0.1, 0.2, 0.3, 1.0, 0.0, 0.0, 0.0]), "grip": 0.25,
                   "image.wrist": np.zeros((4, 4, 3), np.uint8), "task": "stack"}
    assert set(stack.encode(observation)) == {"pose", "grip"}
    rows = np.array([[0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 1.0, 0.8]] * 3)  # a half turn about z, wxyz
    actions = stack.decode({"action": rows})
    assert [a.timestamp for a in actions] == pytest.approx([0.0, 0.1, 0.2])
    assert isinstance(actions[0].command, CartesianPosition) and actions[0].target_grip == pytest.approx(0.8)
    np.testing.assert_allclose(actions[0].command.rotation, np.diag([-1.0, -1.0, 1.0]), atol=1e-12)


def test_the_horizon_cuts_the_chunk_and_an_empty_step_keeps_its_slot():
    stack = read_stack({"local_stack": component("chunked_schedule", version=3, fps=10.0, horizon_sec=0.25)},
                       "protocol v2")
    command = {"type": "joint_pos", "positions": np.arange(7.0)}
    result = [{"robot_command": command, "target_grip": 0.0}, {}, {"robot_command": command, "target_grip": 1.0},
              {"robot_command": command, "target_grip": 1.0}]
    actions = stack.decode(result)
    assert [a.timestamp for a in actions] == pytest.approx([0.0, 0.2])
    assert all(isinstance(a.command, JointPosition) for a in actions)


def test_joint_actions_and_binarized_grip():
    stack = read_stack({"local_stack": {"seq": [
        component("stop_on_fault", version=2), component("chunked_schedule", fps=15.0),
        component("binarize_grip_inference"), {"par": [
            component("state_observation", state={"state": {"robot_state.q": 7, "grip": 1}}),
            component("absolute_joints_action", tgt_joints_key="robot_command.joints", tgt_grip_key="target_grip")]},
        component("split_action_chunk")]}}, "protocol v3")
    encoded = stack.encode({"robot_state.q": np.arange(7.0), "grip": 0.5, "task": "t"})
    assert encoded["task"] == "t" and encoded["state"].dtype == np.float32 and encoded["state"].shape == (8,)
    (action,) = stack.decode({"action": np.array([[*range(7), 0.7]])})
    np.testing.assert_allclose(action.command.positions, np.arange(7.0))
    assert action.target_grip == 1.0


def test_every_missing_component_is_named_in_one_refusal():
    spec = {"seq": [component("temporal_stack", version=2, keys=["image.wrist"], offsets_sec=[-0.1, 0.0]),
                    component("chunked_schedule", fps=15.0), {"par": [
                        component("select_observation_fields", mapping={}), component("cartesian_delta_action")]},
                    component("absolute_joints_action", tgt_joints_key="j", tgt_grip_key="g", num_joints=6)]}
    with pytest.raises(UnsupportedStack) as refused:
        read_stack({"local_stack": spec}, "protocol v3")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("the protocol v3 server's client stack needs")
    for missing in ("temporal_stack v2", "cartesian_delta_action", "num_joints=6 (our arms have 7)"):
        assert missing in message


@pytest.mark.parametrize(("spec", "problem"), [
    (None, "declares no client stack"),
    (component("split_action_chunk"), "has 0 chunked_schedule components"),
    (component("chunked_schedule", version=1, fps=15.0), "chunked_schedule v1"),
    (component("chunked_schedule", fps=15.0, lead_sec=0.1), "chunked_schedule v3 with lead_sec"),
    (component("chunked_schedule", fps=0), "needs a positive fps"),
    ({"seq": []}, "malformed"),
    ({"par": [component("chunked_schedule", fps=15.0)]}, "chunked_schedule inside a composition"),
])
def test_stacks_this_client_cannot_run_are_refused(spec, problem):
    meta = {} if spec is None else {"local_stack": spec}
    with pytest.raises(UnsupportedStack, match=problem):
        read_stack(meta, "protocol v2")
