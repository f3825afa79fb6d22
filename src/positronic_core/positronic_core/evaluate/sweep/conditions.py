"""The simulation flags a sweep's episodes are recorded under, kept in DIR so that a rerun cannot mix conditions.

Episodes are comparable only if they ran under the same simulation flags (`EpisodeSettings`: simulated time, task
text, control rate, cameras, ...). The first sweep into DIR writes its flags to DIR/sweep.json; a later sweep into
the same DIR compares its own with them and, while DIR holds episodes, refuses to start on any difference:
resuming would put episodes recorded under two conditions into one comparison. The other flags (which models and
how they are reached, the plan of seeds, where tasks run, --until-decided) are not recorded.

A DIR from before this record has episodes but no record: it resumes unchecked and gets one. A record whose DIR
holds no episode (its sweep recorded nothing) binds nothing and is replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from positronic_core.dataset import layout
from positronic_core.dataset.durable import fsync_dir, fsync_file
from positronic_core.evaluate.sweep.plan import EpisodeSettings

RECORD_FILE = "sweep.json"

#: Each EpisodeSettings field as the flag of `positronic-eval sweep` that sets it: the record's keys, so the file
#: and a refusal name what the user types.
FLAGS = {
    "simulation_time": "--driver.simulation_time",
    "task": "--driver.task",
    "policy_fps": "--policy_fps",
    "simulate_timeout": "--simulate_timeout",
    "camera_width": "--camera_width",
    "camera_height": "--camera_height",
    "cameras": "--cameras",
    "render_quality": "--render_quality",
}


class ConditionsError(ValueError):
    """DIR holds episodes recorded under other simulation flags, or a record that cannot be read."""


def flags_of(settings: EpisodeSettings) -> dict[str, Any]:
    """The settings as {flag: value}, each value JSON-ready and as the flag takes it."""
    values = dataclasses.asdict(settings)
    values["cameras"] = ",".join(settings.cameras)
    return {FLAGS[name]: value for name, value in values.items()}


def check_and_record(output_dir: Path, settings: EpisodeSettings) -> bool:
    """Records the settings' flags in DIR, or raises ConditionsError if DIR holds episodes recorded under others.

    Returns False when DIR holds episodes but had no record (a sweep from before it): those episodes are unchecked.
    """
    output_dir = Path(output_dir)
    flags = flags_of(settings)
    recorded = _read(output_dir)
    if recorded is not None and all(recorded.get(flag) == value for flag, value in flags.items()):
        return True
    holds_episodes = _holds_episodes(output_dir)
    if recorded is not None and holds_episodes:
        changes = "; ".join(f"{flag} was {_text(recorded.get(flag))}, now {_text(value)}"
                            for flag, value in flags.items() if recorded.get(flag) != value)
        raise ConditionsError(f"{output_dir} holds episodes recorded under other simulation flags ({changes}): "
                              "give the original flags to resume, or a new --output_dir")
    _write(output_dir, flags)
    return recorded is not None or not holds_episodes


def _read(output_dir: Path) -> dict[str, Any] | None:
    path = output_dir / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConditionsError(f"{path} is not a sweep's record of its flags ({exc}); move it away") from None
    flags = record.get("flags") if isinstance(record, dict) else None
    if not isinstance(flags, dict):
        raise ConditionsError(f"{path} is not a sweep's record of its flags (no \"flags\" object); move it away")
    return flags


def _holds_episodes(output_dir: Path) -> bool:
    return output_dir.is_dir() and any(layout.episode_dirs(child) for child in output_dir.iterdir()
                                       if child.is_dir())


def _write(output_dir: Path, flags: dict[str, Any]) -> None:
    record = {"about": "the simulation flags of every episode here; positronic-eval sweep adds none under others",
              "flags": flags}
    output_dir.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place, so a sweep killed mid-write leaves the old record or the new one,
    # never half of one that the next run would refuse to read. The dot keeps dataset discovery off it.
    fd, scratch = tempfile.mkstemp(dir=output_dir, prefix=f".{RECORD_FILE}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=2) + "\n")
        fsync_file(Path(scratch))
        os.replace(scratch, output_dir / RECORD_FILE)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    fsync_dir(output_dir)


def _text(value: Any) -> str:
    return shlex.quote(value) if isinstance(value, str) else str(value)
