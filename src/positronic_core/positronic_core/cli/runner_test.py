"""Flags as `positronic-inference` reads them: owners and their fields in either order, bad flags named."""

import pytest

from positronic_core.cli.inference import COMMANDS
from positronic_core.cli.runner import FlagError, build
from positronic_core.policy.remote import RemotePolicy
from positronic_core.runtime.drivers.eval_ui import EvalUIDriver

SIM = COMMANDS["sim"]


@pytest.mark.parametrize("argv", [
    ["--policy=.remote", "--policy.host=gpu-box", "--policy.port=9001"],
    ["--policy.host=gpu-box", "--policy=.remote", "--policy.port=9001"],
    ["--policy.host=gpu-box", "--policy.port=9001", "--policy=.remote"],
])
def test_policy_fields_apply_whichever_side_of_the_policy_they_are_given(argv: list[str]) -> None:
    policy = build(SIM, argv).kwargs["policy"]
    assert policy.target is RemotePolicy
    assert (policy.kwargs["host"], policy.kwargs["port"]) == ("gpu-box", 9001)


@pytest.mark.parametrize("argv", [
    ["--driver=.eval_ui", "--driver.time_cap=5"],
    ["--driver.time_cap=5", "--driver=.eval_ui"],
])
def test_driver_fields_apply_whichever_side_of_the_driver_they_are_given(argv: list[str]) -> None:
    driver = build(SIM, argv).kwargs["driver"]
    assert driver.target is EvalUIDriver
    assert driver.kwargs["time_cap"] == 5


def test_nested_fields_follow_their_owner_too() -> None:
    argv = ["--policy.base.checkpoint=010000", "--policy.base.checkpoints_dir=/ckpt",
            "--policy=@positronic_core.cfg.policy.act_absolute", "--policy.codec=joints"]
    policy = build(SIM, argv).kwargs["policy"]
    assert policy.kwargs["codec"] == "joints"
    assert policy.kwargs["base"].kwargs == {"checkpoints_dir": "/ckpt", "checkpoint": "010000"}


def test_a_field_the_chosen_owner_lacks_is_named_in_either_order() -> None:
    for argv in (["--policy.host=gpu-box", "--policy=.scripted"], ["--policy=.scripted", "--policy.host=gpu-box"]):
        with pytest.raises(FlagError, match=r"unknown flag --policy\.host"):
            build(SIM, argv)


def test_a_repeated_flag_takes_its_last_value() -> None:
    assert build(SIM, ["--seed=1", "--seed=4"]).kwargs["seed"] == 4
