"""Episode statics from a bag: rosbag2's `custom_data`, or JSON objects published on `/episode/metadata`.

Our recorder writes keys under `positronic.`; the prefix is dropped and the rest mapped to the dataset's static
names:

| bag key                       | static                        |
|-------------------------------|-------------------------------|
| `positronic.policy.<rest>`    | `inference.policy.<rest>`     |
| `positronic.outcome`          | `eval.outcome`                |
| `positronic.notes`            | `eval.notes`                  |
| `positronic.<anything else>`  | `<anything else>` (`task`, `eval.*`, `simulation.*`, ...) |

`outcome` and `notes` land where upstream's evaluation console puts them, so review and evaluation read a converted
episode's verdict like any other. custom_data values are strings and stay strings; JSON values keep their types, and
nested objects flatten to dotted keys. Keys on the topic may omit the `positronic.` prefix. When both sources set a
key, custom_data (written when the bag is closed) wins; later messages on the topic win over earlier ones.
custom_data keys without the prefix belong to someone else and are left out (the report lists them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

PREFIX = "positronic."
_PREFIX_RENAMES = (("policy.", "inference.policy."),)
_RENAMES = {"outcome": "eval.outcome", "notes": "eval.notes"}


def static_key(key: str) -> str:
    """The static a metadata key is stored under (see the module table)."""
    key = key.removeprefix(PREFIX)
    if key in _RENAMES:
        return _RENAMES[key]
    for old, new in _PREFIX_RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys: {"policy": {"type": "act"}} -> {"policy.type": "act"}."""
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def parse_metadata_message(text: str) -> dict[str, Any]:
    """The JSON object a `/episode/metadata` message carries; ValueError if it is not one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"holds a JSON {type(obj).__name__}, not an object")
    return obj


def episode_statics(
    custom_data: Mapping[str, str], topic_objects: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """(statics, notes for the report) from a bag's custom_data and its `/episode/metadata` objects, in order."""
    statics: dict[str, Any] = {}
    notes: list[str] = []
    for obj in topic_objects:
        for key, value in flatten(obj).items():
            statics[static_key(key)] = value
    foreign = sorted(key for key in custom_data if not key.startswith(PREFIX))
    if foreign:
        notes.append(f"custom_data keys without the {PREFIX!r} prefix left out: {', '.join(foreign)}")
    for key, value in custom_data.items():
        if not key.startswith(PREFIX):
            continue
        name = static_key(key)
        if name in statics and statics[name] != value:
            notes.append(f"{name}: custom_data {value!r} overrides {statics[name]!r} from /episode/metadata")
        statics[name] = value
    return statics, notes
