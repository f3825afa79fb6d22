"""Resize with padding: fit an image inside a target size, keeping its aspect ratio, and pad the rest with black.

This is the image step of every codec, so it must give the pixels a model saw in training. Upstream Positronic
prepares LeRobot training data and serves observations with PIL (`Image.resize(..., BILINEAR)` of the fitted size,
pasted centred on a black canvas). PIL's bilinear filter widens its triangle kernel by the scale factor when it
shrinks (antialiasing) and works in 22-bit fixed point with a uint8 result after each pass. `resize_with_padding`
reproduces that arithmetic in numpy bit for bit, so serving needs no PIL and agrees with upstream's exports.

Pass order: PIL up to 12 always resamples horizontally first, and so do we. Pillow 13 runs the vertical pass first
when the height shrinks much more than the width (python-pillow/Pillow#9549), which moves some pixels of such
(portrait-like) resizes by one level; landscape camera frames fitted into a square take the horizontal-first path
in every version, and the tests compare against PIL there.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# PIL's fixed-point precision for 8-bit resampling (libImaging/Resample.c: PRECISION_BITS = 32 - 8 - 2).
_PRECISION_BITS = 22


def fitted_size(width: int, height: int, target_width: int, target_height: int) -> tuple[int, int]:
    """The (width, height) an image of `width` x `height` is scaled to before padding to the target."""
    # The same float expressions as upstream, so both truncate to the same integer sizes.
    ratio = max(width / target_width, height / target_height)
    return int(width / ratio), int(height / ratio)


@functools.lru_cache(maxsize=64)
def _bilinear_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel: the first input index and the fixed-point weights of its taps (PIL's precompute_coeffs)."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 1.0 * filter_scale  # the bilinear (triangle) filter has support 1
    taps = int(math.ceil(support)) * 2 + 1
    starts = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, taps), dtype=np.float64)
    inverse_scale = 1.0 / filter_scale
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        last = min(int(center + support + 0.5), in_size)
        total = 0.0
        for tap in range(last - first):
            distance = abs((tap + first - center + 0.5) * inverse_scale)
            w = 1.0 - distance if distance < 1.0 else 0.0
            weights[out, tap] = w
            total += w  # summed in order, as PIL does, so the normalised weights round identically
        if total != 0.0:
            weights[out, : last - first] /= total
        starts[out] = first
    fixed = np.floor(weights * (1 << _PRECISION_BITS) + 0.5).astype(np.int32)  # weights are never negative
    starts.flags.writeable = False  # cached: shared by every call with the same sizes
    fixed.flags.writeable = False
    return starts, fixed


def _resample_axis(image: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    in_size = image.shape[axis]
    if in_size == out_size:
        return image
    starts, fixed = _bilinear_weights(in_size, out_size)
    source = np.moveaxis(image, axis, 0)
    taps = fixed.shape[1]
    # Pad so that every tap index is valid; padded rows always meet a zero weight.
    padded = np.concatenate([source, np.zeros((taps,) + source.shape[1:], dtype=np.uint8)], axis=0)
    # int32 is exact: at most 255 * (2**22 + taps) + 2**21 < 2**31.
    acc = np.full((out_size,) + source.shape[1:], 1 << (_PRECISION_BITS - 1), dtype=np.int32)
    expand = (slice(None),) + (None,) * (source.ndim - 1)
    for tap in range(taps):
        acc += padded[starts + tap] * fixed[:, tap][expand]
    out = np.clip(acc >> _PRECISION_BITS, 0, 255).astype(np.uint8)
    return np.moveaxis(out, 0, axis)


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a uint8 (H, W, C) image to exactly `width` x `height` with PIL's antialiased bilinear filter."""
    image = _check_image(image)
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    return _resample_axis(_resample_axis(image, width, axis=1), height, axis=0)


def resize_with_padding(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit a uint8 (H, W, C) image inside `width` x `height` keeping its aspect ratio; centre it on black.

    An image that already has the target size is returned unchanged (the same array).
    """
    image = _check_image(image)
    in_height, in_width = image.shape[:2]
    if (in_width, in_height) == (width, height):
        return image
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    new_width, new_height = fitted_size(in_width, in_height, width, height)
    if new_width < 1 or new_height < 1:
        raise ValueError(f"a {in_width}x{in_height} image leaves nothing when fitted into {width}x{height}")
    resized = resize_bilinear(image, new_width, new_height)
    out = np.zeros((height, width, image.shape[2]), dtype=np.uint8)
    top = (height - new_height) // 2
    left = (width - new_width) // 2
    out[top : top + new_height, left : left + new_width] = resized
    return out


def downscale_to_fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an image so its longest side is at most `max_side`, keeping the aspect ratio (no padding).

    The client-side `--policy.resize`: bandwidth only; the server's codec still produces the model's exact size.
    An image that already fits is returned unchanged (the same array).
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image
    scale = max_side / longest
    return resize_bilinear(image, max(1, round(width * scale)), max(1, round(height * scale)))


def is_image(value: object) -> bool:
    """A camera frame as it travels: uint8 (H, W, 3)."""
    return isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be (height, width, channels), got shape {image.shape}")
    return image
