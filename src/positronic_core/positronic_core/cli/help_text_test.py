"""The flag list that ends every command's `--help`: complete, explained, and copyable back as flags."""

import shlex

import configuronic as cfn
import pytest

from positronic_core.cli import inference
from positronic_core.cli.help_text import flag_values, help_text
from positronic_core.cli.policy_server import serve
from positronic_core.cli.runner import build
from positronic_core.evaluate.validate_server import validate_server
from positronic_core.review.cli import CONFIG as REVIEW_SERVER

COMMANDS = {"positronic-policy-server": cfn.Config(serve), "positronic-server": REVIEW_SERVER,
            "validate-server": cfn.Config(validate_server)}


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_every_listed_flag_is_explained_in_the_help_above_it(prog: str) -> None:
    config = COMMANDS[prog]
    explained, values = help_text(config, config, prog).split("\nValues a run would use", 1)
    listed = [line.strip().split("=", 1)[0] for line in values.splitlines()[1:]]
    assert listed
    assert [flag for flag in listed if flag not in explained] == []


@pytest.mark.parametrize("flags", [[], ["--policy=.remote", "--policy.host=gpu box"], ["--driver=.eval_ui"],
                                   ["--policy=.act_joints", "--policy.base.checkpoints_dir=/ckpt"]])
def test_the_listed_values_typed_back_as_flags_give_the_same_run(flags: list[str]) -> None:
    sim = inference.COMMANDS["sim"]
    listed = list(flag_values(build(sim, flags), sim))
    typed = [f"--{flag}={shlex.split(value)[0]}" for flag, value in listed]
    assert list(flag_values(build(sim, typed), sim)) == listed


def test_a_parameter_without_default_is_marked_required() -> None:
    sim = inference.COMMANDS["sim"]
    listed = dict(flag_values(build(sim, ["--policy=.act_absolute"]), sim))
    assert listed["policy.base.checkpoints_dir"] == "(required)"
    assert "policy.base" not in listed  # an anonymous nested config has no name to choose it by


def test_a_choice_from_another_module_is_named_absolutely() -> None:
    sim = inference.COMMANDS["sim"]
    listed = dict(flag_values(build(sim, ["--policy=@positronic_core.cfg.driver.timed"]), sim))
    assert listed["policy"] == "@positronic_core.cfg.driver.timed"
