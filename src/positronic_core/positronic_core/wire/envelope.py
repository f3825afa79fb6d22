"""The numpy envelope of protocol v1: msgpack documents whose arrays travel as tagged maps.

An ndarray is `{b'__ndarray__': True, b'data': <C-order bytes>, b'dtype': dtype.str, b'shape': [...]}` and a numpy
scalar is `{b'__npgeneric__': True, b'data': value.item(), b'dtype': dtype.str}`. The tag keys are msgpack *bin*
(bytes), not str: upstream Positronic and openpi-client both decode only that form. Object, void (structured) and
complex dtypes are refused both ways, so a frame can never smuggle Python objects.

Decoding is defensive because frames come from the network: sizes that disagree with the data, unknown dtypes,
oversize arrays and deep nesting are all `WireError`s, never crashes.

Upstream 0.4.x adds one tagged form that its servers decode back into an array: JPEG images (`jpeg_image`), which
its clients send where a server asks for compressed images.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

_NDARRAY = b"__ndarray__"
_NPGENERIC = b"__npgeneric__"
_JPEG = b"__jpeg__"
#: The quality upstream 0.4.x encodes at unless told otherwise.
JPEG_QUALITY = 90
_REFUSED_KINDS = frozenset("VOc")


class WireError(ValueError):
    """A frame that does not follow protocol v1."""


@dataclass(frozen=True)
class Limits:
    #: Largest number of elements in one decoded array (a 4K RGB frame is 25 M).
    max_array_elements: int = 64 * 1024 * 1024
    #: Deepest nesting of maps and lists; observations and replies are two or three levels deep.
    max_depth: int = 32


DEFAULT_LIMITS = Limits()


def _encode_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in _REFUSED_KINDS:
            raise WireError(f"arrays of dtype {obj.dtype} (kind {obj.dtype.kind!r}) cannot be sent")
        return {_NDARRAY: True, b"data": raw_bytes(obj), b"dtype": obj.dtype.str, b"shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        if obj.dtype.kind in _REFUSED_KINDS:
            raise WireError(f"scalars of dtype {obj.dtype} (kind {obj.dtype.kind!r}) cannot be sent")
        return {_NPGENERIC: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} in a protocol v1 frame")


def raw_bytes(array: np.ndarray) -> memoryview | bytes:
    """The array's C-order bytes for msgpack to pack as bin: a view where the array is contiguous already, so a
    camera frame is copied once (into the frame) rather than twice (`tobytes`, then the frame)."""
    contiguous = np.ascontiguousarray(array)
    if contiguous.size == 0:
        return b""
    return contiguous.reshape(-1).view(np.uint8).data


def jpeg_image(image: np.ndarray, quality: int = JPEG_QUALITY) -> dict[bytes, Any]:
    """An RGB image (..., H, W, 3) in upstream 0.4.x's JPEG form: one JPEG per frame, and the rank (3 or 4) or, for
    other ranks, the full shape to restore. Pixels are cast to uint8, as upstream does."""
    from PIL import Image  # only clients of servers that ask for JPEG pay for the import

    if image.ndim < 3 or image.shape[-1] != 3 or min(image.shape[-3:-1]) < 1:
        raise WireError(f"a JPEG image must be (..., H, W, 3), got shape {image.shape}")
    frames = []
    for frame in image.reshape(-1, *image.shape[-3:]):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8)).save(buffer, format="JPEG", quality=quality)
        frames.append(buffer.getvalue())
    if image.ndim in (3, 4) and frames:
        return {_JPEG: True, b"frames": frames, b"ndim": image.ndim}
    return {_JPEG: True, b"frames": frames, b"shape": list(image.shape)}


def packb(obj: Any) -> bytes:
    """Encode one protocol v1 document."""
    return msgpack.packb(obj, default=_encode_default, use_bin_type=True)


_MAX_DTYPE_CHARS = 32
#: dtype strings seen before: a reply of ten actions names '<f8' ten times, and parsing it is most of an array's
#: decoding cost. Bounded, since the strings come from the network.
_DTYPES: dict[str, np.dtype] = {}
_MAX_CACHED_DTYPES = 64


def _parse_dtype(value: Any) -> np.dtype:
    dtype = _DTYPES.get(value) if isinstance(value, str) else None
    if dtype is not None:
        return dtype
    if not isinstance(value, str):
        raise WireError(f"dtype must be a string, got {type(value).__name__}")
    if len(value) > _MAX_DTYPE_CHARS:
        raise WireError(f"dtype string of {len(value)} characters is not a dtype.str")
    try:
        dtype = np.dtype(value)
    except Exception:  # numpy parses sub-array shapes with ast.literal_eval: SyntaxError, RecursionError, ...
        raise WireError(f"unknown dtype {value!r:.40}") from None
    if dtype.kind in _REFUSED_KINDS:
        raise WireError(f"dtype {value!r} (kind {dtype.kind!r}) is refused")
    if len(_DTYPES) < _MAX_CACHED_DTYPES:
        _DTYPES[value] = dtype
    return dtype


def _decode_ndarray(obj: dict, limits: Limits) -> np.ndarray:
    dtype = _parse_dtype(obj.get(b"dtype"))
    shape = obj.get(b"shape")
    data = obj.get(b"data")
    if type(shape) is not list:
        raise WireError("ndarray shape must be a list of non-negative integers")
    if len(shape) > limits.max_depth:
        raise WireError(f"ndarray has {len(shape)} dimensions")
    count = 1
    for d in shape:
        if type(d) is not int or d < 0:  # `type`, not isinstance: True is an int too
            raise WireError("ndarray shape must be a list of non-negative integers")
        count *= d
    if count > limits.max_array_elements:
        raise WireError(f"ndarray of shape {shape} exceeds the limit of {limits.max_array_elements} elements")
    if not isinstance(data, bytes):
        raise WireError("ndarray data must be bytes")
    if len(data) != count * dtype.itemsize:
        raise WireError(f"ndarray data holds {len(data)} bytes, but shape {shape} of {dtype.str} needs "
                        f"{count * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _decode_npgeneric(obj: dict) -> np.generic:
    dtype = _parse_dtype(obj.get(b"dtype"))
    try:
        return dtype.type(obj.get(b"data"))
    except (TypeError, ValueError, OverflowError) as e:
        raise WireError(f"numpy scalar does not fit {dtype.str}: {e}") from None


def _check_depth(obj: Any, max_depth: int) -> None:
    """Level by level, holding only maps and lists: a reply's leaves (numbers, strings, decoded arrays) outnumber
    its containers several times over."""
    level = [obj] if isinstance(obj, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise WireError(f"document nested deeper than {max_depth} levels")
        below = []
        for item in level:
            below += [child for child in (item.values() if isinstance(item, dict) else item)
                      if isinstance(child, (dict, list))]
        level = below


def unpackb(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one protocol v1 document, raising `WireError` for anything malformed."""

    def hook(obj: dict) -> Any:
        if obj.get(_NDARRAY) is True:
            return _decode_ndarray(obj, limits)
        if obj.get(_NPGENERIC) is True:
            return _decode_npgeneric(obj)
        return obj

    try:
        # Arrays/maps in msgpack nest natively; the C unpacker's own stack (1024) bounds recursion during decode,
        # and _check_depth applies our tighter limit afterwards.
        doc = msgpack.unpackb(data, object_hook=hook, raw=False, strict_map_key=False, use_list=True)
    except WireError:
        raise
    except Exception as e:  # msgpack's own errors, and whatever numpy raises inside the hook on hostile input
        raise WireError(f"not a msgpack document: {type(e).__name__}: {e}"[:300]) from None
    _check_depth(doc, limits.max_depth)
    return doc
