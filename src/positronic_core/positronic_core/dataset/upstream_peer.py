"""Run upstream Positronic 0.2.1, our interoperability peer, in its own venv; used by the interop tests.

The venv lives at `<repo>/.venv-upstream` (`make test` creates it); POSITRONIC_UPSTREAM_PYTHON overrides the
interpreter. Scripts get their arguments in `sys.argv[1:]` and report by printing one JSON document last.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

SKIP_REASON = "upstream positronic 0.2.1 venv .venv-upstream not installed (make test creates it)"


@cache
def upstream_python() -> Path | None:
    """The upstream venv's interpreter if it can import upstream's dataset package, else None."""
    override = os.environ.get("POSITRONIC_UPSTREAM_PYTHON")
    candidate = Path(override) if override else Path(__file__).resolve().parents[4] / ".venv-upstream/bin/python"
    if not candidate.exists():
        return None
    probe = subprocess.run(
        [str(candidate), "-c", "import positronic.dataset.local_dataset"], capture_output=True, timeout=120
    )
    return candidate if probe.returncode == 0 else None


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
