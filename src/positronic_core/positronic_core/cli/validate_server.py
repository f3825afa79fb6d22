"""`validate-server` on the command line: flags in, exit code out (see `evaluate.validate_server`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import configuronic as cfn

from positronic_core.cli.runner import run
from positronic_core.evaluate.validate_server import PROG, validate_server

#: Flags whose values are always text. The command-line runner reads values as Python literals, which would turn
#: `--models=1,2` into a tuple of ints and `--token=1e5` into a float; quoting keeps them exact (`None` stays None).
TEXT_FLAGS = ("host", "output_dir", "models", "token", "task", "render_quality")


def _quote_text_flags(argv: Sequence[str]) -> list[str]:
    quoted = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if eq and name.startswith("--") and name[2:] in TEXT_FLAGS and value != "None":
            arg = f"{name}={value!r}"
        quoted.append(arg)
    return quoted


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    code = run(cfn.Config(validate_server), _quote_text_flags(argv), prog=PROG)
    raise SystemExit(code or 0)


if __name__ == "__main__":
    main()
