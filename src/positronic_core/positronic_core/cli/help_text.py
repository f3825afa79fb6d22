"""`--help` for a configuronic command: its docstring, then every flag with the value a run would use.

The values are read from the config tree after any flags given alongside `--help`, so
`positronic-inference sim --policy=.remote --help` lists the remote policy's fields with their defaults. Each
line is written as it would be typed (`--policy=.remote`, `--driver.task='Pick up ...'`), so it can be copied.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Iterator
from typing import Any

import configuronic as cfn

_SKIPPED_KINDS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def help_text(config: cfn.Config, default: cfn.Config, prog: str) -> str:
    """The help of `config` (the command with flags applied); `default` is the command as shipped, the base
    that relative choices such as `.remote` resolve against."""
    lines = [f"usage: {prog} [--flag=value ...]", "", inspect.getdoc(config.target) or "", "",
             "Values a run would use (defaults, changed by any flags given with --help):"]
    lines += [f"  --{flag}={value}" for flag, value in flag_values(config, default)]
    return "\n".join(lines)


def flag_values(config: cfn.Config, default: cfn.Config | None, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(flag, value as typed) for every parameter of `config`'s target and of the configs nested in it."""
    try:
        params = inspect.signature(config.target).parameters
    except (TypeError, ValueError):
        params = {}
    names = [name for name, spec in params.items() if spec.kind not in _SKIPPED_KINDS]
    names += [name for name in config.kwargs if name not in names]
    for name in names:
        flag = prefix + name
        if name in config.kwargs:
            value = config.kwargs[name]
        elif params[name].default is inspect.Parameter.empty:
            yield flag, "(required)"
            continue
        else:
            value = params[name].default
        if isinstance(value, cfn.Config):
            slot_default = default.kwargs.get(name) if default is not None else None
            choice = _choice(value, slot_default if isinstance(slot_default, cfn.Config) else None)
            if choice is not None:
                yield flag, choice
            yield from flag_values(value, slot_default if isinstance(slot_default, cfn.Config) else None,
                                   flag + ".")
        else:
            yield flag, _typed(value)


def _choice(config: cfn.Config, slot_default: cfn.Config | None) -> str | None:
    """How to name `config` on the command line: `.name` when it is a named config of the module that the slot's
    default comes from (what configuronic resolves relative names against), `@module.name` from elsewhere, None
    for an anonymous one."""
    # configuronic 0.7 records the module a config was defined in only as this private attribute.
    module = config._creator_module
    if module is None:
        return None
    candidates = [(name, obj) for name, obj in vars(module).items()
                  if isinstance(obj, cfn.Config) and obj.target is config.target and not name.startswith("_")]
    if not candidates:
        return None
    # Prefer the named config this one is equal to: `act_joints` over `act_absolute` when its codec is joints.
    exact = [name for name, obj in candidates if str(obj) == str(config)]
    name = exact[0] if exact else candidates[0][0]
    if slot_default is not None and slot_default._creator_module is module:
        return f".{name}"
    return f"@{module.__name__}.{name}"


def _typed(value: Any) -> str:
    if isinstance(value, str):
        return shlex.quote(value)
    if isinstance(value, (list, tuple, dict)):
        try:
            return shlex.quote(json.dumps(value))
        except TypeError:
            return shlex.quote(repr(value))
    return str(value)
