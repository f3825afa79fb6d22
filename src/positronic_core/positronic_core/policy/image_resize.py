"""Client-side image downscaling: bandwidth only; the server's codec still produces the model's exact size."""

from __future__ import annotations

import numpy as np
from PIL import Image


def downscale_to_fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrinks an (H, W, 3) uint8 image so its longest side is at most `max_side`, keeping the aspect ratio."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.BILINEAR))


def is_image(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[2] == 3 and value.dtype == np.uint8
