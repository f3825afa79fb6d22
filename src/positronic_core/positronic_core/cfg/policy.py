"""Policies for `--policy=`.

- `.scripted` (default): the built-in expert; reads the simulator's privileged cube poses.
- `.remote`: an inference server, ours or upstream's (protocol v1, v2 or v3) (`--policy.host`, `--policy.port`,
  `--policy.model_id`, `--policy.resize`, `--policy.token`, `--policy.session_params`).
- `@positronic_core.cfg.policy.act_absolute`: a LeRobot ACT checkpoint run in-process
  (`--policy.base.checkpoints_dir`, `--policy.base.checkpoint`, `--policy.base.device`, `--policy.codec`).
"""

from collections.abc import Mapping
from typing import Any

import configuronic as cfn

from positronic_core.policy.base import Policy
from positronic_core.policy.remote import RemotePolicy
from positronic_core.policy.scripted import ScriptedStackingPolicy


def act(checkpoints_dir: str, checkpoint: str | None = None, device: str = "cpu") -> dict:
    """Where a local ACT checkpoint is: LeRobot's layout, `checkpoint` omitted = the highest step."""
    return {"checkpoints_dir": checkpoints_dir, "checkpoint": None if checkpoint is None else str(checkpoint),
            "device": device}


def _act_absolute(base: dict, codec: str = "ee"):
    # Imported here so that runs without a local model never import torch.
    from positronic_core.policy.local_act import LocalActPolicy

    return LocalActPolicy(base["checkpoints_dir"], checkpoint=base["checkpoint"], codec=codec, device=base["device"])


def build_policy(kind: str, fields: Mapping[str, Any] | None = None) -> Policy:
    """The policy `--policy=.<kind>` with `--policy.<field>=<value>` overrides builds on the command line, for
    runtimes that have no command line (the ROS policy node): `kind` is scripted, remote or act (the
    `act_absolute` config; its fields are `base.checkpoints_dir`, `base.checkpoint`, `base.device`, `codec`)."""
    configs = {"scripted": scripted, "remote": remote, "act": act_absolute}
    if kind not in configs:
        raise ValueError(f"unknown policy {kind!r}: use {', '.join(configs)}")
    return configs[kind].override(**dict(fields or {})).instantiate()


scripted = cfn.Config(ScriptedStackingPolicy)
remote = cfn.Config(RemotePolicy, host="localhost", port=8000, model_id=None, resize=640, token=None,
                    session_params=None)
act_absolute = cfn.Config(_act_absolute, base=cfn.Config(act), codec="ee")
act_joints = act_absolute.override(codec="joints")
