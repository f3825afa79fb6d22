"""Run scripts under upstream Positronic 0.2.1's interpreter; used by the dataset interop and review tests.

The interpreter is `upstream.UPSTREAM_PYTHON` (`<repo>/.venv-upstream`, which `make test` creates, unless
POSITRONIC_UPSTREAM_PYTHON names another). Scripts get their arguments in `sys.argv[1:]` and report by printing one
JSON document last.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from upstream import UPSTREAM_PYTHON

SKIP_REASON = "upstream positronic 0.2.1 venv .venv-upstream not installed (make test creates it)"


@cache
def upstream_python() -> Path | None:
    """The upstream venv's interpreter if it can import upstream's dataset package, else None."""
    if not UPSTREAM_PYTHON.exists():
        return None
    probe = subprocess.run(
        [str(UPSTREAM_PYTHON), "-c", "import positronic.dataset.local_dataset"], capture_output=True, timeout=120
    )
    return UPSTREAM_PYTHON if probe.returncode == 0 else None


def run_upstream(script: str, *args: str, timeout: float = 120) -> Any:
    """Run `script` under upstream's interpreter and return the JSON it printed last."""
    python = upstream_python()
    if python is None:
        raise RuntimeError(SKIP_REASON)
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=timeout, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"upstream script failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"upstream script printed nothing; stderr:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])
