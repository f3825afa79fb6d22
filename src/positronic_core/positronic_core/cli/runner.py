"""Runs a configuronic config as a command line, refusing unknown flags before anything starts.

configuronic passes `--a.b=v` overrides straight through as keyword arguments, so a misspelt flag would only fail
when its object is built (possibly after a simulator or server has started) with Python's terse TypeError. Here
the overridden config tree is checked against each target's signature first.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Sequence

import configuronic as cfn
from configuronic.config import ConfigError

from positronic_core.cli.help_text import help_text


class FlagError(ValueError):
    pass


def _unknown_flags(config: cfn.Config, prefix: str = "") -> list[str]:
    try:
        params = inspect.signature(config.target).parameters
    except (TypeError, ValueError):
        return []
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = []
    for name, value in config.kwargs.items():
        if name not in params and not accepts_any:
            known = ", ".join(f"--{prefix}{p}" for p, spec in params.items()
                              if spec.kind is not inspect.Parameter.VAR_POSITIONAL) or "none"
            unknown.append(f"--{prefix}{name} (known here: {known})")
        elif isinstance(value, cfn.Config):
            unknown.extend(_unknown_flags(value, f"{prefix}{name}."))
    return unknown


def _parse_overrides(argv: Sequence[str]) -> dict[str, str]:
    """`--name=value` pairs, owners before their fields (`--policy` before `--policy.host`) and otherwise in the
    order given.

    configuronic applies overrides in order, and setting `--policy=.remote` replaces the whole policy config, so
    a `--policy.host=X` given earlier would be silently dropped. Ordering by depth honours it wherever it was
    written (a sort by depth is stable, so fields keep their order); a repeated flag takes its last value.
    """
    overrides: dict[str, str] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise FlagError(f"expected --name=value, got {arg!r}")
        name, value = arg[2:].split("=", 1)
        overrides[name] = value
    return dict(sorted(overrides.items(), key=lambda item: item[0].count(".")))


def _coerce(value: str) -> object:
    """Python literals (numbers, True/False/None, lists) as configuronic's fire front end reads them; anything
    else, including zero-padded checkpoint ids such as `010000`, stays a string."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if value.lower() in lowered:
        return lowered[value.lower()]
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return value


def build(config: cfn.Config, argv: Sequence[str]) -> cfn.Config:
    """The config with `argv` overrides applied, or FlagError naming the bad flag."""
    overrides = {k: _coerce(v) for k, v in _parse_overrides(argv).items()}
    try:
        overridden = config.override(**overrides)
    except (ConfigError, ImportError, AttributeError, KeyError) as e:
        raise FlagError(str(e)) from None
    unknown = _unknown_flags(overridden)
    if unknown:
        raise FlagError("unknown flag " + "; unknown flag ".join(unknown))
    return overridden


def run(config: cfn.Config, argv: Sequence[str] | None = None, prog: str | None = None) -> object:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or sys.argv[0].rsplit("/", 1)[-1]
    try:
        if "--help" in argv or "-h" in argv:
            print(help_text(build(config, [a for a in argv if a not in ("--help", "-h")]), config, prog))
            return None
        overridden = build(config, argv)
        # Build the nested objects (policy, driver, ...) before calling the command, so a bad value fails here,
        # named by its flag, before a simulator, server or recording has started.
        kwargs = {}
        for name, value in overridden.kwargs.items():
            if isinstance(value, cfn.Config):
                try:
                    kwargs[name] = value.instantiate()
                except (ValueError, TypeError, LookupError, OSError, ImportError, ConfigError) as e:
                    raise FlagError(f"--{name}: {e}") from None
            else:
                kwargs[name] = value
        # A command checks its own flags' values first thing (`cli.flag_checks`) and reports them the same way.
        return overridden.target(*overridden.args, **kwargs)
    except FlagError as e:
        print(f"{prog}: error: {e}\nRun `{prog} --help` for the flags.", file=sys.stderr)
        raise SystemExit(2) from None

