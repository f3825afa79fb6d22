"""Value checks for a command's own flags, run before it starts anything.

The runner turns `--seed=-1` into the Python value -1 and hands it over; without these a bad value surfaces as a
traceback from deep inside the simulator or the recorder. Each check returns the value in its proper type or
raises FlagError naming the flag, which the runner prints as one line with exit code 2.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from positronic_core.cli.runner import FlagError


def integer(flag: str, value: object, *, minimum: int) -> int:
    # bool is an int subclass, but `--seed=True` is a mistake, not the seed 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlagError(f"{flag} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise FlagError(f"{flag} must be >= {minimum}, got {value}")
    return value


def positive_number(flag: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FlagError(f"{flag} must be a positive number, got {value!r}")
    if value <= 0:
        raise FlagError(f"{flag} must be positive, got {value}")
    return float(value)


def frame_size(flag: str, value: object) -> int:
    """A camera width or height: frames are recorded as yuv420p video, which needs both to be even."""
    pixels = integer(flag, value, minimum=2)
    if pixels % 2:
        raise FlagError(f"{flag} must be an even number of pixels (recorded video is yuv420p), got {pixels}")
    return pixels


def boolean(flag: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FlagError(f"{flag} must be True or False, got {value!r}")
    return value


def choice(flag: str, value: object, choices: Collection[str]) -> str:
    if value not in choices:
        raise FlagError(f"{flag} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)
