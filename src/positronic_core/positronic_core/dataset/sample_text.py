"""One dataset sample as a line of JSON, for carrying samples through a text channel (the ROS policy node publishes
its control loop's inference timeline this way, and bag conversion writes them back as the same signals).

`{"signal": name, "ts_ns": int, "value": number | [numbers]}`; integers stay integers, so a converted signal has the
dtype the in-process recording gives it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def sample_to_json(signal: str, value: Any, ts_ns: int) -> str:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"sample {signal!r} is not numeric ({array.dtype})")
    payload = array.item() if array.ndim == 0 else array.tolist()
    return json.dumps({"signal": signal, "ts_ns": int(ts_ns), "value": payload}, separators=(",", ":"))


def sample_from_json(text: str) -> tuple[str, Any, int]:
    """(signal, value, ts_ns); ValueError naming what is wrong with `text`."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("signal"), str) or not data["signal"]:
        raise ValueError("expected an object with a 'signal' name")
    ts_ns, value = data.get("ts_ns"), data.get("value")
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int):
        raise ValueError(f"sample {data['signal']!r} has no integer 'ts_ns'")
    if isinstance(value, list):
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError(f"sample {data['signal']!r} has a value that is not a list of numbers")
        return data["signal"], np.asarray(value, dtype=np.float64), ts_ns
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"sample {data['signal']!r} has a value that is not a number")
    return data["signal"], value, ts_ns
