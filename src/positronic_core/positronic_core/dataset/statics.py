"""Episode statics: validation on the way in, static.json on disk.

A static is None, a str, int, float, bool, bytes, or a list or str-keyed dict of those. Tuples are stored as lists and
numpy scalars as the Python number they hold. Non-finite floats are refused because JSON cannot carry them.
Bytes use upstream's `{"__bytes_b64__": "<base64>"}` wrapping, so both implementations read them back as bytes.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.dataset.errors import DatasetError, InvalidSampleError

_BYTES_TAG = "__bytes_b64__"


def normalize_static(key: str, value: Any) -> Any:
    """The JSON-ready form of `value`, or InvalidSampleError naming `key` and what is wrong."""
    return _normalize(value, key)


def _normalize(value: Any, where: str) -> Any:
    if isinstance(value, np.generic) and not isinstance(value, (np.str_, np.bytes_)):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, bytes)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidSampleError(f"static {where!r}: {value} is not finite, JSON cannot store it")
        return value
    if isinstance(value, (list, tuple)):
        return [_normalize(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, item in value.items():
            if not isinstance(k, str):
                raise InvalidSampleError(f"static {where!r}: dict keys must be str, got {k!r}")
            out[k] = _normalize(item, f"{where}.{k}")
        return out
    raise InvalidSampleError(
        f"static {where!r}: {type(value).__name__} is not storable; use str, int, float, bool, bytes, list or dict"
    )


def _encode_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode_bytes(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _BYTES_TAG in obj:
        return base64.b64decode(obj[_BYTES_TAG])
    return obj


def dump_statics(statics: dict[str, Any]) -> str:
    return json.dumps(statics, indent=2, default=_encode_bytes, allow_nan=False)


def load_statics_text(text: str) -> Any:
    """JSON text with upstream's bytes wrapping decoded (ValueError if it is not JSON)."""
    return json.loads(text, object_hook=_decode_bytes)


def load_statics(path: Path) -> dict[str, Any]:
    """The statics stored at `path`; an episode without static.json has none."""
    if not path.exists():
        return {}
    data = load_statics_text(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data
